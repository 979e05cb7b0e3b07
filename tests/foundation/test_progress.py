"""Progress of long commands: drawn on a terminal's stderr, never into piped or JSON output."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from mlops_kit import data, models
from tests.conftest import Recorded
from tests.data.conftest import CHURN_V1, CHURN_V2, write
from tests.models.conftest import write_bytes


def test_the_library_reports_bytes_stored_and_downloaded_and_the_stages_of_a_snapshot(
    local_kit: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    write_bytes(folder / "a.bin", 3 * 1024 * 1024, seed=1)
    write_bytes(folder / "b.bin", 12 * 1024 * 1024 + 5, seed=2)
    stored = Recorded()
    models.register(local_kit, "clf", folder, lineage=models.Lineage(), progress=stored)
    (task,) = stored.tasks
    size = 15 * 1024 * 1024 + 5
    assert (task["description"], task["total"], task["unit"], task["done"]) == (
        "storing clf/1",
        size,
        "bytes",
        size,
    )
    fetched = Recorded()
    models.download(local_kit, "clf@1", tmp_path / "out", fetched)
    assert [(t["total"], t["done"], t["unit"]) for t in fetched.tasks] == [(size, size, "bytes")]

    stages = Recorded()
    data.snapshot(local_kit, "churn", path=write(tmp_path / "c.parquet", CHURN_V1), progress=stages)
    assert [t["description"] for t in stages.tasks] == [
        f"[1/3] reading file:{tmp_path / 'c.parquet'}",
        "[2/3] profiling 3,000 rows",
        "[3/3] publishing a version of churn",
    ]


def test_a_terminal_sees_bytes_and_rate_and_the_result_stays_clean(
    local_kit: Any, tmp_path: Path, run_cli: Any, terminal: io.StringIO
) -> None:
    artifact = write_bytes(tmp_path / "model.bin", 20 * 1024 * 1024, seed=3)
    result = run_cli("models", "register", "clf", str(artifact))
    assert result.exit_code == 0, result.stderr
    drawn = terminal.getvalue()
    assert "storing clf/1" in drawn and "21.0 MB" in drawn and "/s" in drawn, drawn[-2000:]
    assert result.stdout.startswith("registered clf@1") and "\x1b" not in result.stdout

    terminal.truncate(0)
    snapshot = run_cli(
        "data", "snapshot", "churn", "--from", str(write(tmp_path / "c.parquet", CHURN_V1))
    )
    assert snapshot.exit_code == 0, snapshot.stderr
    assert "profiling 3,000 rows" in terminal.getvalue()

    terminal.truncate(0)
    download = run_cli("models", "download", "clf@1", str(tmp_path / "out"))
    assert download.exit_code == 0 and "downloading clf@1" in terminal.getvalue()


@pytest.mark.parametrize("why", ["json", "ci"])
def test_json_output_and_ci_draw_nothing_even_on_a_terminal(
    local_kit: Any,
    tmp_path: Path,
    run_cli: Any,
    terminal: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
    why: str,
) -> None:
    artifact = write_bytes(tmp_path / "model.bin", 1024)
    args = ["models", "register", "clf", str(artifact)]
    if why == "json":
        args += ["--format", "json"]
    else:
        monkeypatch.setenv("CI", "true")
    result = run_cli(*args)
    assert result.exit_code == 0, result.stderr
    assert terminal.getvalue() == ""
    if why == "json":
        assert json.loads(result.stdout)["version"] == 1


def test_piped_output_carries_no_progress(local_kit: Any, tmp_path: Path, run_cli: Any) -> None:
    artifact = write_bytes(tmp_path / "model.bin", 20 * 1024 * 1024, seed=4)
    result = run_cli("models", "register", "clf", str(artifact))
    assert result.exit_code == 0
    assert result.stderr == ""  # captured: not a terminal
    assert result.stdout.startswith("registered clf@1")


def test_a_local_pipeline_run_draws_the_running_task_and_prints_each_finished_one(
    terminal: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops_kit.cli.pipeline import task_events
    from mlops_kit.cli.progress import progress

    with progress() as shown:
        on_task = task_events(shown)
        on_task("train", "RUNNING")
        on_task("train", "SUCCEEDED")
        on_task("gate", "RUNNING")
        on_task("gate", "FAILED")
    assert "task train running" in terminal.getvalue()
    assert "task gate running" in terminal.getvalue()
    printed = capsys.readouterr().out
    assert "✓ train" in printed and "✗ gate" in printed


def test_profiles_diffs_and_comparisons_report_their_stages(local_kit: Any, tmp_path: Path) -> None:
    from mlops_kit.data.refs import as_ref
    from mlops_kit.data.versions import find_version_row

    data.snapshot(local_kit, "churn", path=write(tmp_path / "a.parquet", CHURN_V1))
    data.snapshot(local_kit, "churn", path=write(tmp_path / "b.parquet", CHURN_V2))
    stored = Recorded()
    data.profile(local_kit, "churn@1", stored)
    assert stored.tasks == []  # stored with the snapshot: read at once
    with local_kit.metadata.session() as session:  # as a version made before profiles were kept
        find_version_row(session, as_ref("churn@1")).profile = None
    profiled = Recorded()
    data.profile(local_kit, "churn@1", profiled)
    assert [t["description"] for t in profiled.tasks] == [
        "[1/2] checking the stored data of churn@1",
        "[2/2] profiling 3,000 rows of churn@1",
    ]

    diffed = Recorded()
    data.diff(local_kit, "churn@1", "churn@2", key="customer_id", progress=diffed)
    assert [t["description"] for t in diffed.tasks] == [
        "[1/3] reading churn@1 (3,000 rows)",
        "[2/3] reading churn@2 (3,000 rows)",
        "[3/3] comparing 6 columns and joining them on customer_id",
    ]
    from_file = Recorded()
    data.diff(local_kit, "churn@1", write(tmp_path / "c.parquet", CHURN_V2), progress=from_file)
    assert from_file.tasks[1]["description"] == f"[2/3] reading and profiling {tmp_path}/c.parquet"

    for seed in (1, 2):
        artifact = write_bytes(tmp_path / f"m{seed}.bin", 1024, seed=seed)
        models.register(local_kit, "clf", artifact, lineage=models.Lineage())
    compared = Recorded()
    models.compare(local_kit, "clf@1", "clf@2", progress=compared)
    assert [t["description"] for t in compared.tasks] == [
        "[1/1] comparing the metrics, params and data of clf@1 and clf@2"
    ]


def test_a_terminal_sees_the_stages_of_a_diff_and_json_gets_only_json(
    local_kit: Any, tmp_path: Path, run_cli: Any, terminal: io.StringIO
) -> None:
    data.snapshot(local_kit, "churn", path=write(tmp_path / "a.parquet", CHURN_V1))
    data.snapshot(local_kit, "churn", path=write(tmp_path / "b.parquet", CHURN_V2))
    result = run_cli("data", "diff", "churn@1", "churn@2")
    assert result.exit_code == 0, result.stderr
    drawn = terminal.getvalue()
    assert "[1/3] reading churn@1 (3,000 rows)" in drawn and "[3/3] comparing 6 columns" in drawn
    assert "\x1b" not in result.stdout

    terminal.truncate(0)
    terminal.seek(0)
    as_json = run_cli("data", "diff", "churn@1", "churn@2", "--format", "json")
    assert as_json.exit_code == 0, as_json.stderr
    assert terminal.getvalue() == ""
    assert json.loads(as_json.stdout)["rows"]["a"] == 3000


def test_piped_stages_draw_nothing(local_kit: Any, tmp_path: Path, run_cli: Any) -> None:
    data.snapshot(local_kit, "churn", path=write(tmp_path / "a.parquet", CHURN_V1))
    result = run_cli("data", "profile", "churn@1")
    assert result.exit_code == 0 and result.stderr == ""  # captured: not a terminal
    assert result.stdout.lstrip().startswith("churn@1: 3000 rows")
