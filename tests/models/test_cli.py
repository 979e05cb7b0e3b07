"""``mlops-kit models``: every command, and bad input as one line with a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.models.conftest import METRICS, write_bytes


def test_register_show_versions_download_promote_rollback_history_gc(
    project_dir: Path, run_cli: Any
) -> None:
    artifact = write_bytes(project_dir / "model" / "model.bin", 256)
    (project_dir / "metrics.json").write_text(json.dumps(METRICS), encoding="utf-8")
    for _ in range(2):
        result = run_cli(
            "models",
            "register",
            "churn",
            str(artifact.parent),
            "--metrics",
            str(project_dir / "metrics.json"),
            "--param",
            "lr=0.1",
            "--tag",
            "team=growth",
            "--pipeline-run-id",
            "run-1",
            "--image-digest",
            "sha256:" + "b" * 64,
        )
        assert result.exit_code == 0, result.stderr
    assert "registered churn@2 (1 files)" in result.stdout

    shown = json.loads(run_cli("models", "show", "churn@2", "--format", "json").stdout)
    assert shown["params"] == {"lr": "0.1"} and shown["tags"] == {"team": "growth"}
    assert shown["slices"] == {"hour": {"3": {"accuracy": 0.4}}}
    assert shown["components"]["image"] == {"image": "sha256:" + "b" * 64}
    table = run_cli("models", "show", "churn@2")
    assert table.exit_code == 0 and "metrics by hour" in table.stdout
    listing = json.loads(run_cli("models", "versions", "churn", "--format", "json").stdout)
    assert [v["version"] for v in listing] == [2, 1]

    result = run_cli("models", "download", "churn@1", str(project_dir / "out"))
    assert result.exit_code == 0 and "checksums verified" in result.stdout
    assert (project_dir / "out" / "model.bin").read_bytes() == artifact.read_bytes()

    assert (
        run_cli("models", "promote", "churn@1", "--alias", "prod", "--reason", "a").exit_code == 0
    )
    moved = run_cli("models", "promote", "churn@2", "--alias", "prod", "--reason", "b")
    assert "churn@prod -> version 2 (was 1)" in moved.stdout
    back = run_cli("models", "rollback", "churn", "--alias", "prod", "--reason", "bad")
    assert back.exit_code == 0 and "rolled back 2 -> 1 (artifact verified)" in back.stdout
    events = json.loads(run_cli("models", "history", "churn", "--format", "json").stdout)
    assert [(e["action"], e["to_version"]) for e in events] == [
        ("promote", 1),
        ("promote", 2),
        ("rollback", 1),
    ]
    at = run_cli("models", "history", "churn", "--alias", "prod", "--at", events[1]["at"][:19])
    assert at.exit_code == 0 and "churn@prod at" in at.stdout
    history = run_cli("models", "history", "churn", "--alias", "prod")
    assert "everyone" not in history.stdout and "bad" in history.stdout

    gc = json.loads(run_cli("models", "gc", "--format", "json").stdout)
    assert gc["removed_versions"] == [] and gc["removed_objects"] == [] and gc["kept_objects"] == 2
    # A compared version may be named by its alias, as everywhere else.
    compared = run_cli("models", "compare", "churn@prod", "churn@2", "--format", "json")
    summary = json.loads(compared.stdout)
    assert (summary["a"], summary["b"]) == ("churn@1", "churn@2")
    assert summary["metrics"]["overall"]["accuracy"]["delta"] == 0


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (("register", "m", "missing"), "artifact path 'missing' does not exist", 3),
        (("register", "m", "a.bin", "--metrics", "bad.json"), "is not valid JSON", 2),
        (("register", "m", "a.bin", "--data", "users@4"), "unknown dataset 'users'", 3),
        (("register", "m", "a.bin", "--param", "lr"), "--param 'lr' is not KEY=VALUE", 2),
        (("show", "m@0"), "invalid model reference 'm@0'", 2),
        (("show", "nope@1"), "unknown model 'nope'", 3),
        (("promote", "m@1", "--alias", "prod", "--reason", "x"), "unknown model 'm'", 3),
        (("rollback", "m", "--alias", "prod", "--reason", "x"), "unknown model 'm'", 3),
        (("gc", "--grace-hours", "-1"), "invalid --grace-hours -1.0", 2),
        (("history", "m", "--at", "2026-01-01"), "--at needs --alias", 2),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    project_dir: Path, run_cli: Any, args: tuple[str, ...], message: str, code: int
) -> None:
    write_bytes(project_dir / "a.bin", 8)
    (project_dir / "bad.json").write_text("{oops", encoding="utf-8")
    result = run_cli("models", *args)
    assert result.exit_code == code, result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert not (project_dir / ".mlops" / "artifacts" / "m").exists()


def test_tables_format_numbers_one_way_and_keep_headers_whole_at_100_columns(
    project_dir: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_kit.cli.output import console

    metrics = {
        "overall": {
            "accuracy": 0.6301615123,
            "precision": 0.5,
            "recall": 0.25,
            "f1": 0.3333333,
            "roc_auc": 0.71,
            "log_loss": 0.61,
        },
        "slices": {"contract": {"month-to-month": {"accuracy": 0.6301615123, "count": 557.0}}},
    }
    artifact = write_bytes(project_dir / "model" / "model.bin", 64)
    (project_dir / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    args = ("models", "register", "churn", str(artifact.parent), "--metrics", "metrics.json")
    assert run_cli(*args).exit_code == 0
    monkeypatch.setattr(console, "_width", 100)

    listed = run_cli("models", "versions", "churn").stdout
    for header in ("version", "status", "aliases", "accuracy", "precision", "recall"):
        assert f" {header} " in listed, listed
    assert "0.6302" in listed and "3 more metrics (f1, roc_auc, log_loss)" in listed
    assert all(len(line) <= 100 for line in listed.splitlines())
    chosen = run_cli("models", "versions", "churn", "--metric", "log_loss").stdout
    assert " log_loss " in chosen and " accuracy " not in chosen
    shown = run_cli("models", "show", "churn@1").stdout
    assert "0.6302" in shown and "0.6301615" not in shown
    assert " 557 " in shown and "557.0" not in shown
