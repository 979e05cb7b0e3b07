"""Dataset versions on the local twin: snapshot, read back, immutability and bad inputs."""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from mlops_kit import data, stats
from mlops_kit.db.models.data import Dataset, DatasetVersionRow
from mlops_kit.errors import BackendError, ConfigError, NotFoundError
from tests.data.conftest import CHURN_V1, write


def _counts(kit) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with kit.metadata.session() as session:
        return (
            session.scalar(select(func.count()).select_from(Dataset)),
            session.scalar(select(func.count()).select_from(DatasetVersionRow)),
        )


def test_round_trip_gives_back_identical_data_and_schema(kit, tmp_path):
    source = write(tmp_path / "v1.parquet", CHURN_V1 + " ORDER BY customer_id")
    version = data.snapshot(
        kit,
        "churn",
        path=source,
        details=data.VersionDetails(description="first", tags={"team": "ml"}),
    )
    assert (version.ref, version.row_count, version.created) == ("churn@1", 3000, True)
    expected = pq.read_table(source)
    loaded = data.load(kit, "churn@1").sort_by("customer_id")
    assert loaded.schema == expected.schema and loaded.equals(expected)
    frame = data.load(kit, "churn", as_="pandas")
    assert list(frame.columns) == expected.column_names and len(frame) == 3000
    relation = data.load(kit, "churn@latest", as_="ibis")
    assert kit.warehouse.execute(relation.count().name("n").as_table())["n"][0].as_py() == 3000
    sql = data.load(kit, "churn@1", as_="sql")
    assert duckdb.connect().execute(sql).to_arrow_table().num_rows == 3000
    shown = data.get_version(kit, "churn@1")
    assert (shown.description, shown.tags, shown.id) == ("first", {"team": "ml"}, version.id)
    assert shown.schema[0] == {"name": "customer_id", "type": "int64"}


def test_identical_content_returns_the_existing_version_unless_forced(kit, tmp_path):
    first = data.snapshot(kit, "churn", path=write(tmp_path / "a.parquet", CHURN_V1))
    # The same rows in another order and another format are the same content.
    again = data.snapshot(
        kit, "churn", path=write(tmp_path / "b.parquet", CHURN_V1 + " ORDER BY tenure DESC")
    )
    assert (again.version, again.created, again.id) == (1, False, first.id)
    forced = data.snapshot(kit, "churn", path=tmp_path / "a.parquet", force=True)
    assert (forced.version, forced.created) == (2, True)
    assert [v.version for v in data.list_versions(kit, "churn")] == [1, 2]
    assert _counts(kit) == (1, 2)


def test_query_and_table_sources(kit, tmp_path):
    import duckdb

    path = kit.warehouse.path
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as connection:
        connection.execute(f"CREATE TABLE customers AS {CHURN_V1}")
    by_table = data.snapshot(kit, "customers", table="customers")
    by_query = data.snapshot(kit, "long", query="SELECT * FROM customers WHERE tenure > 60")
    assert by_table.row_count == 3000 and by_table.source == "table:customers"
    assert 0 < by_query.row_count < 3000 and by_query.source.startswith("query:")


def test_profile_is_computed_at_snapshot_and_stored(kit, tmp_path, monkeypatch):
    version = data.snapshot(kit, "churn", path=write(tmp_path / "a.parquet", CHURN_V1))
    fresh = stats.profile(kit.warehouse, kit.warehouse.table(version.storage))

    def no_scan(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a stored profile must not be recomputed")

    monkeypatch.setattr(stats, "profile", no_scan)
    stored = data.profile(kit, "churn@1")
    assert stored == fresh and stored["columns"]["tenure"]["max"] == 72.0


@pytest.mark.parametrize("stored", [None, {"row_count": 3000, "columns": {}}])
def test_a_version_without_a_current_stored_profile_is_profiled_once(
    kit, tmp_path, monkeypatch, stored
):
    # No profile (made before snapshots profiled), or one of an earlier format.
    data.snapshot(kit, "churn", path=write(tmp_path / "a.parquet", CHURN_V1))
    with kit.metadata.session() as session:
        for row in session.scalars(select(DatasetVersionRow)):
            row.profile = stored
    first = data.profile(kit, "churn@1")
    assert first["format"] == stats.PROFILE_FORMAT
    assert first["columns"]["tenure"]["max"] == 72.0

    def no_scan(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a stored profile must not be recomputed")

    monkeypatch.setattr(stats, "profile", no_scan)
    assert data.profile(kit, "churn@1") == first


def test_a_failure_while_publishing_leaves_no_version_and_no_manifest(kit, tmp_path, monkeypatch):
    data.snapshot(kit, "churn", path=write(tmp_path / "a.parquet", CHURN_V1))
    warehouse = kit.warehouse

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise BackendError("disk full (injected)")

    monkeypatch.setattr(warehouse, "publish", broken)
    source = write(tmp_path / "b.parquet", CHURN_V1 + " LIMIT 100")
    with pytest.raises(BackendError, match="injected"):
        data.snapshot(kit, "churn", path=source)
    assert _counts(kit) == (1, 1)
    assert [v.version for v in data.list_versions(kit, "churn")] == [1]
    staging = warehouse.versions_root / "churn" / ".staging"
    assert list(staging.iterdir()) == []
    monkeypatch.undo()
    assert data.snapshot(kit, "churn", path=source).version == 2


def test_a_failure_after_publishing_rolls_the_manifest_back(kit, tmp_path, monkeypatch):
    original = type(kit.warehouse).publish

    def publish_then_crash(self, staged, dataset, version):  # type: ignore[no-untyped-def]
        original(self, staged, dataset, version)
        raise KeyboardInterrupt

    monkeypatch.setattr(type(kit.warehouse), "publish", publish_then_crash)
    with pytest.raises(KeyboardInterrupt):
        data.snapshot(kit, "churn", path=write(tmp_path / "a.parquet", CHURN_V1))
    assert _counts(kit)[1] == 0
    with pytest.raises(NotFoundError):
        data.get_version(kit, "churn")


def test_gc_removes_only_what_no_version_references(kit, tmp_path, monkeypatch):
    first = data.snapshot(kit, "churn", path=write(tmp_path / "a.parquet", CHURN_V1))
    original = type(kit.warehouse).publish

    def publish_then_crash(self, staged, dataset, version):  # type: ignore[no-untyped-def]
        original(self, staged, dataset, version)
        raise KeyboardInterrupt

    # A second version published, then its manifest rolled back; a new dataset the same way.
    monkeypatch.setattr(type(kit.warehouse), "publish", publish_then_crash)
    for name, sql in (("churn", CHURN_V1 + " LIMIT 10"), ("fresh", CHURN_V1 + " LIMIT 20")):
        with pytest.raises(KeyboardInterrupt):
            data.snapshot(kit, name, path=write(tmp_path / f"{name}.parquet", sql))
    monkeypatch.undo()
    root = kit.warehouse.versions_root
    orphan = next(
        p for p in (root / "churn").glob("*.parquet") if p != kit.warehouse.file(first.storage)
    )
    fresh = next((root / "fresh").glob("*.parquet"))
    # A crashed snapshot's staged data, a day old, and a snapshot's in flight, new.
    (root / "churn" / ".staging").mkdir(exist_ok=True)
    crashed, in_flight = (
        root / "churn" / ".staging" / "x.parquet",
        root / "churn" / ".staging" / "y.parquet",
    )
    for path in (crashed, in_flight):
        path.write_bytes(b"PAR1")
    day_old = time.time() - 2 * 86400
    os.utime(crashed, (day_old, day_old))

    assert data.collect_garbage(kit, dry_run=True) == [str(orphan), str(crashed)]
    assert orphan.exists() and crashed.exists()
    # The new dataset's data is younger than the grace: a first snapshot may be publishing it.
    assert data.collect_garbage(kit) == [str(orphan), str(crashed)]
    assert not orphan.exists() and not crashed.exists() and in_flight.exists() and fresh.exists()
    os.utime(fresh, (day_old, day_old))
    assert data.collect_garbage(kit) == [str(fresh)]
    assert data.collect_garbage(kit) == []
    assert data.load(kit, "churn@1").num_rows == 3000
    assert data.snapshot(kit, "churn", path=tmp_path / "churn.parquet").version == 2


def test_a_dry_run_the_warehouse_cannot_estimate_is_refused_before_anything_runs(
    local_kit, tmp_path, run_cli
):
    source = write(tmp_path / "a.parquet", CHURN_V1)
    result = run_cli("--dry-run", "data", "snapshot", "churn", "--from", str(source))
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--dry-run estimates what BigQuery queries would process" in result.stderr
    assert "without --dry-run" in result.stderr
    with pytest.raises(NotFoundError):
        data.list_versions(local_kit, "churn")


def test_gc_on_the_cli_lists_then_removes(local_kit, tmp_path, run_cli):
    kit = local_kit
    data.snapshot(kit, "churn", path=write(tmp_path / "a.parquet", CHURN_V1))
    stray = kit.warehouse.versions_root / "churn" / "0123abcd.parquet"
    stray.write_bytes(b"PAR1")
    listed = run_cli("data", "gc", "--dry-run", "--format", "json")
    assert listed.exit_code == 0, listed.stderr
    assert json.loads(listed.stdout) == {"dry_run": True, "locations": [str(stray)]}
    assert stray.exists()
    removed = run_cli("data", "gc")
    assert removed.exit_code == 0 and "removed 1 unreferenced item(s)" in removed.stdout
    assert not stray.exists() and len(data.list_versions(kit, "churn")) == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"path": "missing.csv"}, NotFoundError, "no such file"),
        ({"path": "notes.txt"}, ConfigError, "unsupported file type"),
        ({"path": "broken.parquet"}, ConfigError, "cannot read file:"),
        ({"path": "empty.parquet"}, ConfigError, "has no rows"),
        ({"path": "nested.parquet"}, ConfigError, "unsupported type"),
        ({"query": "SELECT * FROM nowhere"}, NotFoundError, "nowhere"),
        ({"query": "SELEC 1"}, ConfigError, "not one read-only SELECT"),
        ({"query": "SELECT 1; SELECT 2"}, ConfigError, "not one read-only SELECT"),
        ({"query": "CREATE TABLE t AS SELECT 1"}, ConfigError, "not one read-only SELECT"),
        ({"path": "ragged.csv"}, ConfigError, "line 3 has 1 fields where the header has 2"),
        ({"path": "twice.csv"}, ConfigError, "repeats column 'a'"),
        ({"path": "binary.csv"}, ConfigError, "not UTF-8 text"),
        ({"table": "nowhere"}, NotFoundError, "nowhere"),
        ({}, ConfigError, "exactly one source"),
        ({"path": "a.parquet", "table": "t"}, ConfigError, "exactly one source"),
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(kit, tmp_path, kwargs, error, message):
    data.snapshot(kit, "churn", path=write(tmp_path / "a.parquet", CHURN_V1))
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    write(tmp_path / "empty.parquet", "SELECT 1 AS a WHERE false")
    write(tmp_path / "nested.parquet", "SELECT [1, 2] AS a")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3\n4,5,6,7\n")
    (tmp_path / "twice.csv").write_text("a,b,a\n1,2,3\n")
    (tmp_path / "binary.csv").write_bytes(b"a,b\n\xff\xfe,\x00\n")
    with pytest.raises(error, match=message):
        data.snapshot(
            kit, "churn", **{k: str(tmp_path / v) if k == "path" else v for k, v in kwargs.items()}
        )
    assert _counts(kit) == (1, 1)
    assert data.load(kit, "churn").num_rows == 3000
    assert list((kit.warehouse.versions_root / "churn" / ".staging").iterdir()) == []


def test_a_query_cannot_close_its_wrapper_and_write_a_file(kit, tmp_path):
    escape = "SELECT 42 AS a)) TO 'escaped.csv' (FORMAT csv) --"
    with pytest.raises(ConfigError, match="not one read-only SELECT"):
        data.snapshot(kit, "churn", query=escape)
    assert not (tmp_path / "escaped.csv").exists()
    # A trailing comment of a valid query does not swallow the wrapper's parenthesis.
    assert data.snapshot(kit, "answer", query="SELECT 42 AS a -- the answer").row_count == 1


@pytest.mark.parametrize(
    ("ref", "error", "message"),
    [
        ("nope@1", NotFoundError, "unknown dataset 'nope'.*churn"),
        ("churn@9", NotFoundError, "no version 9: versions are 1 to 1"),
        ("churn@0", ConfigError, "invalid dataset reference"),
        ("churn@x", ConfigError, "invalid dataset reference"),
        ("Bad-Name", ConfigError, "invalid dataset name"),
    ],
)
def test_unknown_or_malformed_references(kit, tmp_path, ref, error, message):
    data.snapshot(kit, "churn", path=write(tmp_path / "a.parquet", CHURN_V1))
    with pytest.raises(error, match=message):
        data.get_version(kit, ref)


def test_reference_parsing() -> None:
    assert data.DatasetRef.parse("churn") == data.DatasetRef("churn")
    assert data.DatasetRef.parse("churn@latest") == data.DatasetRef("churn")
    assert data.DatasetRef.parse("churn@12") == data.DatasetRef("churn", 12)
    assert str(data.DatasetRef("churn", 3)) == "churn@3"


def test_git_commit_is_recorded_inside_a_repository(kit, tmp_path):
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (
        ["init", "-q"],
        ["-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "x"],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)
    version = data.snapshot(
        kit,
        "churn",
        path=write(tmp_path / "a.parquet", CHURN_V1),
        details=data.VersionDetails(workdir=repo),
    )
    assert version.git_commit == head.stdout.strip()
    outside = data.snapshot(
        kit, "other", path=tmp_path / "a.parquet", details=data.VersionDetails(workdir=Path("/"))
    )
    assert outside.git_commit is None


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
        # DuckDB's own words, as it writes a Parquet file on a full disk.
        duckdb.IOException(
            f'IO Error: Could not write file "x.parquet": {os.strerror(errno.ENOSPC)}'
        ),
    ],
    ids=["oserror", "duckdb"],
)
def test_a_full_warehouse_disk_is_one_line_with_the_folder_and_its_free_space(
    kit, tmp_path, monkeypatch, run_cli, metadata_url, failure
):
    from mlops_kit.warehouse.duckdb import DuckDBWarehouse

    data.snapshot(kit, "churn", path=write(tmp_path / "a.parquet", CHURN_V1))
    more = write(tmp_path / "b.parquet", CHURN_V1 + " LIMIT 10")

    def fill_the_disk(connection, relation, staging):  # type: ignore[no-untyped-def]
        staging.parent.mkdir(parents=True, exist_ok=True)
        staging.write_bytes(b"PAR1")  # part of the file was written when the disk filled up
        raise failure

    monkeypatch.setattr(DuckDBWarehouse, "_copy", staticmethod(fill_the_disk))
    staging = kit.warehouse.versions_root / "churn" / ".staging"
    said = (
        f"cannot write a snapshot of 'churn': the disk holding '{staging}' is full "
        r"\([0-9.]+ [MG]iB free\); free some space"
    )
    with pytest.raises(BackendError, match=said):
        data.snapshot(kit, "churn", path=more)
    environment = kit.environment
    args = ["--warehouse", environment.warehouse, "--metadata", environment.metadata]
    result = run_cli(*args, "data", "snapshot", "churn", "--from", str(more))
    assert result.exit_code == BackendError.exit_code, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "is full" in result.stderr
    monkeypatch.undo()

    # Nothing stored changed: no version, no staged leftover, the first version intact.
    assert [v.version for v in data.list_versions(kit, "churn")] == [1]
    assert list(staging.iterdir()) == []
    assert data.load(kit, "churn@1").num_rows == 3000  # verified against its checksum
    assert data.snapshot(kit, "churn", path=more).version == 2


def test_a_moved_or_copied_project_reads_its_own_data(project_dir, tmp_path, monkeypatch):
    import shutil

    from mlops_kit.kit import Kit

    with Kit.open() as kit:
        version = data.snapshot(kit, "churn", path=write(tmp_path / "a.parquet", CHURN_V1))
    assert version.storage == f"datasets/churn/{version.fingerprint}.parquet"
    copy = shutil.copytree(project_dir, tmp_path / "copy")
    # The original's data is gone: only the copy's own files can be read.
    shutil.rmtree(project_dir / ".mlops" / "datasets")
    monkeypatch.chdir(copy)
    with Kit.open() as kit:
        assert data.load(kit, "churn@1").num_rows == 3000
        assert data.collect_garbage(kit) == []
        assert data.snapshot(kit, "churn", path=tmp_path / "a.parquet").version == 1  # reused
