"""The orchestrator contract, through the public interface only, on every offline orchestrator.

A new orchestrator runs it by adding its scheme to ``OFFLINE`` and to ``URIS`` below.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_kit.orchestrators import ORCHESTRATORS, PipelineSubmission
from tests.pipelines.tiny import compile_tiny_pipeline

pytestmark = pytest.mark.pipelines

URIS = ["kfp-local"]


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_tiny_pipeline(tmp_path_factory.mktemp("compiled"))


@pytest.mark.parametrize("uri", URIS)
def test_a_run_is_listed_by_orchestrators_opened_on_the_same_uri(
    uri: str, package: Path, tmp_path: Path
) -> None:
    submitter, lister = ORCHESTRATORS.open(uri), ORCHESTRATORS.open(uri)
    assert "\n" not in submitter.check()
    root = str(tmp_path) if submitter.runs_here else None
    assert lister.list_runs(pipeline_root=root, name="contract-run") == []

    run = submitter.submit(PipelineSubmission(package, {"x": 4}, "contract-run", root))

    assert run.state in ("PENDING", "RUNNING", "SUCCEEDED"), run.error
    (listed,) = lister.list_runs(pipeline_root=root, name="contract-run")
    assert (listed.run_id, listed.name) == (run.run_id, "contract-run")
