"""Faults under the kit: its metadata database dropped or damaged, its disk full, a service gone.

Each ends the next command in one line that names the problem and its fix, never a traceback, and
leaves what was stored before it intact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from sqlalchemy import event

from tests.cloud_twin.storage import GcsEmulator
from tests.conftest import CliResult, require


def _one_line_error(result: CliResult, *said: str) -> str:
    """The single line of a failed command's error, checked to say each of ``said``."""
    assert result.exit_code not in (0, 70), result
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("error: "), line
    for part in said:
        assert part in line, line
    return line


@pytest.fixture
def shared_environment(
    project_dir: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Environment ``shared`` of ``project_dir``: its metadata in the test's PostgreSQL schema.

    Not the local twin, so its schema is migrated on purpose only (``mlops-kit db upgrade``).
    """
    environments = project_dir / "environments"
    environments.mkdir()
    body = {
        "name": "shared",
        "warehouse": f"duckdb://{project_dir / 'warehouse.duckdb'}",
        "artifacts": (project_dir / "artifacts").as_uri(),
        "metadata": postgres_url,
        "orchestrator": "kfp-local",
    }
    (environments / "shared.yaml").write_text(yaml.safe_dump(body), encoding="utf-8")
    monkeypatch.setenv("MLOPS_KIT_ENVIRONMENTS_DIR", str(environments))
    return "shared"


def _drop_tables(postgres_url: str) -> None:
    """Drop every table of the test's schema, as a careless ``DROP ... CASCADE`` would."""
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        ]
        assert "model_versions" in tables
        connection.execute("DROP TABLE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")


@pytest.mark.postgres
@pytest.mark.parametrize(
    "command",
    [
        ("models", "versions", "churn"),
        ("data", "versions", "churn"),
        ("models", "history", "churn"),
        ("monitor", "report", "churn@1"),
    ],
)
def test_postgresql_tables_dropped_between_commands_name_db_upgrade(
    shared_environment: str, postgres_url: str, run_cli: Any, command: tuple[str, ...]
) -> None:
    assert run_cli("-e", shared_environment, "db", "upgrade").exit_code == 0
    assert run_cli("-e", shared_environment, *command).exit_code in (0, 3)

    _drop_tables(postgres_url)

    result = run_cli("-e", shared_environment, *command)
    _one_line_error(result, "metadata database", "does not exist", "run `mlops-kit db upgrade`")
    # The fix it names works.
    assert run_cli("-e", shared_environment, "db", "upgrade").exit_code == 0
    assert run_cli("-e", shared_environment, *command).exit_code in (0, 3)


@pytest.mark.parametrize("damage", ["garbage", "text"])
def test_a_sqlite_file_replaced_by_garbage_is_named_with_its_fix(
    project_dir: Path, run_cli: Any, damage: str
) -> None:
    source = project_dir / "churn.csv"
    source.write_text("a,b\n1,2\n", encoding="utf-8")
    assert run_cli("data", "snapshot", "churn", "--from", str(source)).exit_code == 0
    database = project_dir / ".mlops" / "metadata.db"
    for leftover in database.parent.glob("metadata.db-*"):  # the WAL and its index
        leftover.unlink()
    database.write_bytes(bytes(range(256)) * 64 if damage == "garbage" else b"not a database\n")

    for command in (("data", "versions", "churn"), ("models", "versions", "churn")):
        _one_line_error(
            run_cli(*command),
            "metadata database",
            "file is not a database",
            "restore it from a backup",
        )
    assert database.read_bytes()[:16] != b"SQLite format 3\x00"  # left as it was, for recovery


def test_a_deleted_local_sqlite_file_starts_an_empty_database(
    project_dir: Path, run_cli: Any
) -> None:
    source = project_dir / "churn.csv"
    source.write_text("a,b\n1,2\n", encoding="utf-8")
    assert run_cli("data", "snapshot", "churn", "--from", str(source)).exit_code == 0
    for path in (project_dir / ".mlops").glob("metadata.db*"):
        path.unlink()

    # The local twin migrates its database on first use: the dataset is unknown, said in one line.
    _one_line_error(run_cli("data", "versions", "churn"), "unknown dataset 'churn'")


def test_a_full_sqlite_database_refuses_the_write_and_keeps_what_it_held(
    project_dir: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_kit.db.engines import SqliteDatabase

    source = project_dir / "churn.csv"
    source.write_text("a,b\n1,2\n", encoding="utf-8")
    assert run_cli("data", "snapshot", "churn", "--from", str(source)).exit_code == 0
    before = run_cli("data", "versions", "churn")
    assert before.exit_code == 0

    # The disk fills: SQLite may not grow the file by one page more, and fails as on ENOSPC
    # ("database or disk is full", SQLITE_FULL).
    create_engine = SqliteDatabase.create_engine

    def full(self: SqliteDatabase) -> Any:
        engine = create_engine(self)

        @event.listens_for(engine, "connect")
        def _no_room(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            (pages,) = cursor.execute("PRAGMA page_count").fetchone()
            cursor.execute(f"PRAGMA max_page_count = {pages}")
            cursor.close()

        return engine

    with monkeypatch.context() as patch:
        patch.setattr(SqliteDatabase, "create_engine", full)
        result = run_cli("models", "register", "churn", str(source))
    _one_line_error(result, "metadata database", "database or disk is full", "free space")

    after = run_cli("data", "versions", "churn")
    assert after.exit_code == 0
    assert after.stdout == before.stdout
    _one_line_error(run_cli("models", "versions", "churn"), "unknown model 'churn'")


@pytest.mark.gcs
def test_a_storage_emulator_killed_mid_use_is_named_with_its_endpoint(
    project_dir: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = GcsEmulator(project_dir.parent / "fake-gcs-server.log")
    require(emulator.start(), "the GCS emulator (fake-gcs-server)")
    try:
        bucket = emulator.create_bucket()
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url)
        # The stated deadline, shortened so the test waits one second, not thirty.
        monkeypatch.setattr("mlops_kit.artifacts.gcs.RETRY_DEADLINE", 1.0)
        artifacts = ("--artifacts", f"gs://{bucket}/models")
        model = project_dir / "model.bin"
        model.write_bytes(b"weights" * 100)
        assert run_cli(*artifacts, "models", "register", "churn", str(model)).exit_code == 0
        emulator.stop()  # SIGKILL: the port no longer answers

        destination = project_dir.parent / "download"
        result = run_cli(*artifacts, "models", "download", "churn@1", str(destination))
    finally:
        emulator.stop()
    _one_line_error(
        result,
        f"gs://{bucket}/models",
        "gave up after retrying for 1 s",
        "Connection refused",
        f"Cloud Storage at {emulator.url} is reachable",
    )
    assert not any(destination.rglob("*.bin"))
