"""The monthly cost drivers each environment declares (``infra audit --costs``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import ROOT

pytestmark = pytest.mark.pulumi


def drivers(evaluation: Any) -> dict[tuple[str, str], dict[str, str]]:
    from infra.costs import cost_drivers

    return {(row["resource"], row["driver"]): row for row in cost_drivers(evaluation)}


def test_cloud_sql_tier_and_availability_follow_the_stack(evaluations: dict[str, Any]) -> None:
    prod = drivers(evaluations["prod"])[("mlops-prod-metadata-instance", "instance")]
    assert prod["declared"] == "POSTGRES_17 db-custom-2-7680 (2 vCPU, 7.5 GB), REGIONAL"
    assert "twice" in prod["billed by"]
    dev = drivers(evaluations["dev"])[("mlops-dev-metadata-instance", "instance")]
    assert dev["declared"] == "POSTGRES_17 db-custom-1-3840 (1 vCPU, 3.75 GB), ZONAL"
    assert "twice" not in dev["billed by"]


def test_every_driver_the_issue_names_is_there(evaluations: dict[str, Any]) -> None:
    from infra.costs import cost_drivers

    for env, evaluation in evaluations.items():
        rows = cost_drivers(evaluation)
        services = [row["service"] for row in rows]
        for service in ("Cloud SQL", "GKE", "BigQuery", "Cloud Logging", "Billing"):
            assert service in services, (env, service)
        assert services == sorted(services, key=services.index)  # grouped by service
    prod = drivers(evaluations["prod"])
    assert prod[("mlops-prod-pipelines", "nodes")]["declared"].startswith("0-10 x n2-standard-8")
    assert prod[("mlops_prod", "queries")]["declared"] == (
        "churn (versions: partition filter required, never expire)"
    )
    assert (
        "DATA_READ" in prod[("mlops-prod-audit-all-services", "Data Access audit logs")]["declared"]
    )
    assert prod[("mlops-prod-budget", "monthly budget")]["declared"].startswith("5000 EUR")


def test_the_attestors_signing_key_is_a_driver_of_its_own(prod: Any) -> None:
    rows = drivers(prod)
    # The CMEK keys rotate on a schedule; the HSM signing key is rotated by hand.
    assert rows[("6 keys", "key versions")]["declared"] == "rotated every 90 days"
    signing = rows[("1 signing key (HSM)", "key versions")]
    assert signing["declared"] == "rotated by hand"
    assert "signing operation per image CI attests" in signing["billed by"]


def test_costs_through_the_cli(run_cli: Any) -> None:
    args = ("infra", "audit", "--env", "staging", "--costs", "--project-dir", str(ROOT))
    result = run_cli(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["environment"] == "staging" and report["cost_drivers"]
    both = run_cli("infra", "audit", "--diff", "dev", "prod", "--costs", "--project-dir", str(ROOT))
    assert both.exit_code != 0 and "--costs describes one environment" in both.stderr
