"""Faults under the kit: its metadata database dropped or damaged, its disk full, a service gone.

Each ends the next command in one line that names the problem and its fix, never a traceback, and
leaves what was stored before it intact.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from sqlalchemy import event

from tests.cloud_twin.bigquery import FakeBigQuery
from tests.cloud_twin.oauth import TokenEndpoint
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
        monkeypatch.setenv("MLOPS_KIT_GOOGLE_RETRY_DEADLINE", "1")
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


@pytest.fixture
def google_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Credentials that work, a retry deadline of 1 s, and a loopback URL where nothing listens.

    The URL is the BigQuery fake's, stopped: every connection to it is refused.
    """
    tokens = TokenEndpoint().start()
    credentials = tokens.write_credentials(tmp_path / "credentials.json", "runner@proj.iam", "proj")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(credentials))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj")
    monkeypatch.setenv("MLOPS_KIT_GOOGLE_RETRY_DEADLINE", "1")
    fake = FakeBigQuery("proj", ("ds",)).start()
    endpoint = fake.endpoint
    fake.stop()
    yield endpoint
    tokens.stop()


def _ends_quickly_at_the_deadline(
    result: CliResult, started: float, service: str, url: str, last: str = "Connection refused"
) -> None:
    """``result`` failed within seconds, in the line of a service that is down, exit code 6."""
    assert time.monotonic() - started < 10  # the client's own retries last one to ten minutes
    _one_line_error(
        result,
        "gave up after retrying for 1 s",
        f"(last error: {last}",
        f"check that {service} at {url} is reachable from here, then retry",
    )
    assert result.exit_code == 6  # BackendError: the service failed, not the input


@pytest.mark.parametrize("source", ["file", "query"])
def test_a_bigquery_endpoint_that_is_down_ends_a_snapshot_at_the_stated_deadline(
    project_dir: Path,
    run_cli: Any,
    google_down: str,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", google_down)
    csv = project_dir / "churn.csv"
    csv.write_text("a,b\n1,2\n", encoding="utf-8")
    read = ("--from", str(csv)) if source == "file" else ("--query", "SELECT 1 AS a")

    started = time.monotonic()
    result = run_cli("--warehouse", "bigquery://proj/ds", "data", "snapshot", "churn", *read)
    _ends_quickly_at_the_deadline(result, started, "BigQuery", google_down)
    _one_line_error(run_cli("data", "versions", "churn"), "unknown dataset 'churn'")


def test_a_bigquery_endpoint_that_is_down_ends_a_prediction_log_write_at_the_deadline(
    project_dir: Path, google_down: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_kit.environments import resolve_environment
    from mlops_kit.errors import BackendError
    from mlops_kit.kit import Kit
    from mlops_kit.monitoring import log_ground_truth

    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", google_down)
    local = resolve_environment("local", overrides={"warehouse": "bigquery://proj/ds"})
    environment = local.model_copy(update={"prediction_log_table": "proj.mon.prediction_log"})
    started = time.monotonic()
    with Kit(environment) as kit, pytest.raises(BackendError) as raised:
        log_ground_truth(kit, {"r1": 1})
    assert time.monotonic() - started < 10
    (line,) = str(raised.value).splitlines()
    assert line.startswith("cannot write to BigQuery table proj.mon.ground_truth: gave up after ")
    assert f"Connection refused); check that BigQuery at {google_down} is reachable" in line


def test_registering_to_a_storage_endpoint_that_is_down_ends_at_the_deadline(
    project_dir: Path, run_cli: Any, google_down: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", google_down)
    model = project_dir / "model.bin"
    model.write_bytes(b"weights")

    started = time.monotonic()
    result = run_cli("--artifacts", "gs://models/prefix", "models", "register", "churn", str(model))
    _ends_quickly_at_the_deadline(result, started, "Cloud Storage", google_down)
    listed = run_cli("models", "versions", "churn", "--format", "json")
    assert (listed.exit_code, json.loads(listed.stdout)) == (0, [])  # a failed version is hidden


def test_a_cloud_sql_admin_endpoint_that_is_down_ends_at_the_deadline(
    project_dir: Path, run_cli: Any, google_down: str
) -> None:
    metadata = (
        f"cloudsql://proj:r:inst/kit?iam_user=runner@proj.iam&sqladmin_api_endpoint={google_down}"
    )

    started = time.monotonic()
    result = run_cli("--metadata", metadata, "data", "versions", "churn")
    _ends_quickly_at_the_deadline(
        result, started, "Cloud SQL", google_down, "Cannot connect to host"
    )


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon", "99999"])
def test_a_bad_retry_deadline_is_refused_in_one_line(
    project_dir: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MLOPS_KIT_GOOGLE_RETRY_DEADLINE", value)
    result = run_cli(
        "--warehouse", "bigquery://proj/ds", "data", "snapshot", "churn", "--query", "SELECT 1"
    )
    _one_line_error(result, f"MLOPS_KIT_GOOGLE_RETRY_DEADLINE={value!r}", "or unset it")
    assert result.exit_code == 2
