"""Progress of long commands: drawn on a terminal's stderr, never into piped or JSON output."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from mlops_kit import data, models
from mlops_kit.progress import Unit
from tests.data.conftest import CHURN_V1, write
from tests.models.conftest import write_bytes


class Recorded:
    """A :class:`~mlops_kit.progress.Progress` that keeps what it was told."""

    def __init__(self) -> None:
        self.tasks: list[dict[str, Any]] = []

    def start(self, description: str, total: float | None = None, unit: Unit = "steps") -> None:
        self.tasks.append({"description": description, "total": total, "unit": unit, "done": 0})

    def advance(self, amount: float) -> None:
        self.tasks[-1]["done"] += amount


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """stderr as a colour terminal 120 columns wide, recorded."""
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, force_interactive=True)
    monkeypatch.setattr("mlops_kit.cli.output.err_console", console)
    monkeypatch.delenv("CI", raising=False)
    return screen


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
