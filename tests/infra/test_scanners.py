"""checkov's Terraform checks for Google Cloud on each stack's plan export, and on a weakened stack.

Every failure must be listed, with its reason, in the README's "Scanner findings kept, with
reasons" (or below, as a defect still open); a listed finding that no longer occurs must go.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import re
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require
from tests.infra import scanners
from tests.infra.conftest import ENVIRONMENTS, ROOT, stack_config

pytestmark = pytest.mark.pulumi

KEPT_SECTION = "Scanner findings kept, with reasons"
# Defects of the program that checkov finds and that are not fixed yet: (check id, address
# pattern) → what is wrong. Fixing one makes test_listed_findings_still_occur name it for removal.
OPEN_DEFECTS: dict[tuple[str, str], str] = {}
# What the weakened stack must add to dev's findings: a public range on the control plane, CMEK off.
WEAKENED = {
    "CKV_GCP_18": "google_container_cluster.mlops-dev-gke",
    "CKV_GCP_80": "google_bigquery_table.mlops-dev-churn",
    "CKV_GCP_81": "google_bigquery_dataset.mlops-dev-data",
}


def kept_findings(readme: Path = ROOT / "README.md") -> dict[tuple[str, str], str]:
    """The README's list: ``- `CHECK` on `ADDRESS-PATTERN`: reason`` lines under its heading."""
    text = readme.read_text(encoding="utf-8")
    start = text.index(KEPT_SECTION)
    section = text[start : text.find("\n#", start + 1) if "\n#" in text[start:] else None]
    entries = re.findall(r"^- `(CKV2?_[A-Z0-9]+_\d+)` on `([^`]+)`: (.+)$", section, re.MULTILINE)
    return {(check, pattern): reason for check, pattern, reason in entries}


def matches(finding: scanners.Finding, check: str, pattern: str) -> bool:
    return finding.check_id == check and fnmatch(finding.resource, pattern)


@pytest.fixture(scope="session")
def weakened() -> Any:
    """dev with CMEK off (a config key) and the control plane open to the internet.

    The configuration refuses public ranges, so the range is put on the declared cluster itself:
    what a hand-edited program would declare.
    """
    from infra.evaluate import evaluate

    evaluation = evaluate("dev", ROOT, config=stack_config("dev", **{"mlops-kit:cmek": False}))
    for index, resource in enumerate(evaluation.resources):
        if resource.type == "gcp:container/cluster:Cluster":
            props = json.loads(json.dumps(resource.props))
            props["masterAuthorizedNetworksConfig"]["cidrBlocks"] = [
                {"cidrBlock": "0.0.0.0/0", "displayName": "anywhere"}
            ]
            evaluation.resources[index] = dataclasses.replace(resource, props=props)
    return evaluation


@pytest.fixture(scope="session")
def checkov_findings(
    evaluations: dict[str, Any], weakened: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[scanners.Finding]]:
    """Findings per stack (and ``weakened``), from one checkov run over all exports."""
    from infra.terraform_plan import export_plan

    with (ROOT / ".venv-scanners.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers build the environment once
        ready = scanners.build()
    require(ready, "checkov in .venv-scanners/ (python -m tests.infra.scanners)")
    folder = tmp_path_factory.mktemp("plans")
    stacks = {**evaluations, "weakened": weakened}
    for name, evaluation in stacks.items():
        (folder / f"{name}.json").write_text(json.dumps(export_plan(evaluation)), encoding="utf-8")
    findings = scanners.run_checkov([folder / f"{name}.json" for name in stacks])
    return {name: [f for f in findings if f.file == f"{name}.json"] for name in stacks}


@pytest.mark.slow
def test_every_checkov_failure_is_kept_with_a_reason(
    checkov_findings: dict[str, list[scanners.Finding]],
) -> None:
    entries = {**kept_findings(), **OPEN_DEFECTS}
    unlisted = [
        f"{env}: {f.check_id} on {f.resource} ({f.check_name})"
        for env in ENVIRONMENTS
        for f in checkov_findings[env]
        if not any(matches(f, check, pattern) for check, pattern in entries)
    ]
    assert not unlisted, "fix these, or list them with a reason in the README:\n" + "\n".join(
        unlisted
    )


@pytest.mark.slow
def test_listed_findings_still_occur(checkov_findings: dict[str, list[scanners.Finding]]) -> None:
    kept = kept_findings()
    assert kept, f"no entries under {KEPT_SECTION!r} in README.md"
    found = [f for env in ENVIRONMENTS for f in checkov_findings[env]]
    stale = [
        f"{check} on {pattern}"
        for check, pattern in {**kept, **OPEN_DEFECTS}
        if not any(matches(f, check, pattern) for f in found)
    ]
    assert not stale, "no longer found, remove from the list:\n" + "\n".join(stale)


@pytest.mark.slow
def test_a_weakened_stack_fails_the_expected_checks(
    checkov_findings: dict[str, list[scanners.Finding]],
) -> None:
    before = {(f.check_id, f.resource) for f in checkov_findings["dev"]}
    added = {(f.check_id, f.resource) for f in checkov_findings["weakened"]} - before
    assert set(WEAKENED.items()) <= added, added


def sample_policy_denials(plan: dict[str, Any]) -> list[str]:
    """What the sample Rego policy denies on ``plan``, evaluated by rego-cpp (regopy).

    conftest runs OPA, which is not installable here; rego-cpp implements the same language
    (Rego v1) and is tested against OPA's conformance suite.
    """
    import regopy

    rego = regopy.Interpreter()
    rego.add_module("terraform_plan", (ROOT / "infra/policies/terraform_plan.rego").read_text())
    rego.set_input(regopy.Input(plan))
    output = rego.query("data.main.deny")
    assert output.ok(), str(output)
    denials: list[str] = json.loads(output.expressions()[0].json())
    return denials


def test_the_sample_rego_policy_passes_every_stack(evaluations: dict[str, Any]) -> None:
    from infra.terraform_plan import export_plan

    for env in ENVIRONMENTS:
        assert sample_policy_denials(export_plan(evaluations[env])) == [], env


def test_the_sample_rego_policy_denies_data_without_cmek_and_missing_labels(weakened: Any) -> None:
    from infra.terraform_plan import export_plan

    plan = export_plan(weakened)
    denials = sample_policy_denials(plan)
    assert (
        "google_storage_bucket.mlops-dev-models-bucket: data at rest must use a customer-managed "
        "key (encryption.0.default_kms_key_name)"
    ) in denials
    assert any(
        d.startswith("google_bigquery_dataset.mlops-dev-data: data at rest") for d in denials
    )
    for change in plan["resource_changes"]:
        if change["address"] == "google_compute_global_address.mlops-dev-private-services":
            del change["change"]["after"]["labels"]["cost-center"]
    assert "google_compute_global_address.mlops-dev-private-services: no cost-center label" in (
        sample_policy_denials(plan)
    )
