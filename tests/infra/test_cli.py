"""``mlops-kit infra audit`` and ``infra inventory``: offline, relayed from the program's audit module."""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import ROOT

pytestmark = pytest.mark.pulumi


def test_audit_prod_as_json_through_the_cli(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "infra")  # the project is found upwards
    result = run_cli("infra", "audit", "--env", "prod", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["violations"] == 0
    assert report["summary"]["failed"] == 0
    assert {"member", "role", "resource", "condition"} <= set(report["iam"][0])
    types = {item["type"] for item in report["inventory"]}
    assert "gcp:sql/databaseInstance:DatabaseInstance" in types


def test_diff_staging_prod_as_markdown(run_cli: Any) -> None:
    result = run_cli(
        "infra",
        "audit",
        "--diff",
        "staging",
        "prod",
        "--format",
        "markdown",
        "--project-dir",
        str(ROOT),
    )
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert text.startswith("## Settings that differ between staging and prod")
    assert (
        "| gcp:sql/databaseInstance:DatabaseInstance | mlops-<env>-metadata-instance "
        "| settings.availability_type | ZONAL | REGIONAL |"
    ) in text
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| gcp:")]
    # Names are compared with the environment masked, so only real differences remain.
    assert rows and not any("staging" in row[1] or "prod" in row[1] for row in rows)


def test_audit_in_every_format_and_violations_exit_one(
    evaluations: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra import audit
    from infra.policies import controls

    report = audit.audit_report(evaluations["dev"])
    markdown = audit.render(report, "markdown")
    assert (
        markdown is not None and "### Policy results" in markdown and "### IAM grants" in markdown
    )
    assert audit.render(report, "table") is None
    assert "Policy results" in capsys.readouterr().out
    # A stack with a violation makes the audit exit 1 (CI gates on it).
    monkeypatch.setattr(
        audit,
        "evaluate",
        lambda env, root: type(evaluations["dev"])(
            "dev",
            [*evaluations["dev"].resources, controls.Resource(controls.SA_KEY, "key", {})],
            evaluations["dev"].outputs,
        ),
    )
    assert audit.main(["audit", "--env", "dev", "--format", "json"]) == 1
    failed = [p for p in json.loads(capsys.readouterr().out)["policies"] if p["status"] == "FAIL"]
    assert [p["control"] for p in failed] == ["iam-no-service-account-keys"]


def test_inventory_uses_pulumi_gcp_argument_names(evaluations: dict[str, Any]) -> None:
    import importlib

    from infra.audit import inventory

    items = inventory(evaluations["prod"])
    checked = 0
    for item in items:
        package, _, rest = item["type"].partition(":")
        if package != "gcp":
            continue
        module, _, cls = rest.partition(":")
        resource_class = getattr(importlib.import_module(f"pulumi_gcp.{module.split('/')[0]}"), cls)
        names = set(inspect.signature(resource_class._internal_init).parameters)
        assert set(item["inputs"]) <= names, (item["type"], set(item["inputs"]) - names)
        checked += 1
    assert checked > 80
    bucket = next(i for i in items if i["name"] == "mlops-prod-models-bucket")["inputs"]
    assert bucket["soft_delete_policy"]["retention_duration_seconds"] == 30 * 86400
    assert bucket["labels"]["cost-center"] == "cc-1234"  # user keys are not renamed
    sql = next(i for i in items if i["name"] == "mlops-prod-metadata-instance")["inputs"]
    assert sql["settings"]["ip_configuration"]["ipv4_enabled"] is False
    provider = next(i for i in items if i["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == "[secret]"


def test_outputs_command_prints_the_stack_outputs(capsys: pytest.CaptureFixture[str]) -> None:
    from infra.audit import main

    assert main(["outputs", "--env", "dev"]) == 0
    outputs = json.loads(capsys.readouterr().out)
    assert outputs["kfp_host"] == "https://kfp.dev.mlops.internal"
    # IAP in front of KFP accepts ID tokens for its OAuth client: the kit's audience.
    assert outputs["kfp_audience"] == "987654321098-kfpdevexample.apps.googleusercontent.com"


def test_no_pulumi_project_is_one_line(
    run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("infra", "audit", "--env", "prod")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "no Pulumi project" in result.stderr
    result = run_cli("infra", "inventory", "--env", "prod", "--project-dir", str(tmp_path))
    assert result.exit_code == 2 and "no Pulumi.yaml" in result.stderr


def test_unknown_environment_is_one_line(run_cli: Any) -> None:
    result = run_cli("infra", "inventory", "--env", "qa", "--project-dir", str(ROOT))
    assert result.exit_code == 3
    assert "unknown environment 'qa'" in result.stderr and "dev, prod, staging" in result.stderr
    result = run_cli("infra", "audit", "--diff", "dev", "qa", "--project-dir", str(ROOT))
    assert result.exit_code == 3
    result = run_cli("infra", "audit", "--project-dir", str(ROOT))
    assert result.exit_code == 2 and "--env" in result.stderr


def test_missing_infra_extra_is_one_line(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlops_kit.cli.infra as cli_infra

    monkeypatch.setattr(cli_infra, "find_spec", lambda name: None)
    result = run_cli("infra", "audit", "--env", "prod", "--project-dir", str(ROOT))
    assert result.exit_code == 7
    assert "mlops-kit[infra]" in result.stderr and result.stderr.count("\n") == 1


def test_bad_stack_config_is_one_line(run_cli: Any, tmp_path: Path) -> None:
    project = tmp_path / "repo"
    (project / "environments").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text(), encoding="utf-8")
    (project / "infra").symlink_to(ROOT / "infra")
    prod = (ROOT / "environments" / "Pulumi.prod.yaml").read_text(encoding="utf-8")
    (project / "environments" / "Pulumi.prod.yaml").write_text(
        prod.replace("availability: REGIONAL", "availability: HA"), encoding="utf-8"
    )
    result = run_cli("infra", "audit", "--env", "prod", "--project-dir", str(project))
    assert result.exit_code == 2
    assert "'mlops-kit:metadataDb.availability' is 'HA'" in result.stderr
    assert "Traceback" not in result.stderr
    assert os.path.isdir(project / "infra")


def test_the_audit_is_not_folded_at_80_columns_without_a_terminal() -> None:
    import subprocess
    import sys

    # As in a CI log or a cron job: no terminal anywhere and no $COLUMNS.
    environ = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    result = subprocess.run(
        [sys.executable, "-m", "mlops_kit", "infra", "audit", "--env", "dev"],
        cwd=ROOT,
        env=environ,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # Every control id and its CIS reference stand whole on one row.
    assert any("iam-separation-of-duties-service-accounts" in line for line in lines)
    assert any("CIS GCP 1.4 (v5 1.5)" in line for line in lines)
    from mlops_kit.cli.output import PIPED_WIDTH

    assert max(len(line) for line in lines) <= PIPED_WIDTH
