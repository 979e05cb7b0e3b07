"""A generated project's path to its environment: a hardened CI workflow, the kit from the
environment's own package repository, images by digest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlops_kit.environments import Workspace, resolve_environment
from mlops_kit.scaffold import new_project

FIXTURES = Path(__file__).parents[1] / "fixtures"
ZIZMOR = Path(sys.executable).parent / "zizmor"


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The template rendered once for the local twin and once for cloud environment ``dev``."""
    from mlops_kit.environments import read_stack_outputs

    root = tmp_path_factory.mktemp("projects")
    workspace = Workspace.discover(root, environ={})
    local = resolve_environment("local", workspace=workspace, environ={})
    dev = read_stack_outputs(FIXTURES / "stack-outputs-dev.json").to_environment("dev")
    return {
        "local": new_project(root / "churn-local", local).path,
        "dev": new_project(root / "churn-dev", dev).path,
    }


def _zizmor(project: Path) -> list[dict[str, object]]:
    result = subprocess.run(
        [str(ZIZMOR), "--offline", "--format", "json", "--no-exit-codes", str(project)],
        capture_output=True,
        text=True,
        check=True,
    )
    findings: list[dict[str, object]] = json.loads(result.stdout)
    return findings


@pytest.mark.parametrize("environment", ["local", "dev"])
def test_zizmor_finds_nothing_above_low_in_the_workflow(
    projects: dict[str, Path], environment: str
) -> None:
    findings = _zizmor(projects[environment])
    serious = [
        (f["ident"], f["determinations"]["severity"])  # type: ignore[index]
        for f in findings
        if f["determinations"]["severity"] not in ("Informational", "Low")  # type: ignore[index]
    ]
    assert serious == []


def _workflow(project: Path) -> dict[str, object]:
    text = (project / ".github/workflows/ci.yml").read_text(encoding="utf-8")
    loaded: dict[str, object] = yaml.safe_load(text)
    return loaded


def test_every_action_is_pinned_to_a_commit_with_its_release_beside_it(
    projects: dict[str, Path],
) -> None:
    text = (projects["dev"] / ".github/workflows/ci.yml").read_text(encoding="utf-8")
    uses = [line.split("uses:", 1)[1].strip() for line in text.splitlines() if "uses:" in line]
    assert uses
    for use in uses:
        reference, _, comment = use.partition("#")
        ref = reference.strip().partition("@")[2]
        assert len(ref) == 40 and int(ref, 16) >= 0, use
        assert comment.strip().startswith("v"), use


def test_only_the_submitting_job_may_mint_credentials_and_it_is_bound_to_the_environment(
    projects: dict[str, Path],
) -> None:
    workflow = _workflow(projects["dev"])
    assert workflow["permissions"] == {}
    jobs: dict[str, dict[str, object]] = workflow["jobs"]  # type: ignore[assignment]
    minting = [name for name, job in jobs.items() if "id-token" in job["permissions"]]  # type: ignore[operator]
    assert minting == ["submit"]
    assert jobs["submit"]["environment"] == "dev"
    assert jobs["check"]["permissions"] == {"contents": "read"}
    for job in jobs.values():
        for step in job["steps"]:  # type: ignore[attr-defined]
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
    local = _workflow(projects["local"])
    assert list(local["jobs"]) == ["check"]  # type: ignore[call-overload]
