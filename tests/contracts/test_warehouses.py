"""The warehouse contract, through the public interface only, on every offline warehouse.

A new warehouse runs it by adding its scheme to ``OFFLINE`` and a parameter to ``warehouse_uri``
(``tests/contracts/conftest.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops_kit.errors import ConfigError, NotFoundError
from mlops_kit.warehouse import WAREHOUSES, Source, TableSchema, Warehouse

EVENTS = TableSchema(
    name="events",
    columns=(("at", "TIMESTAMP"), ("kind", "STRING"), ("attributes", "JSON")),
    partition_by="at",
)


def _file(path: Path, rows: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"x": list(range(rows)), "label": ["a", "b"] * (rows // 2)}), path)
    return path


def _publish(warehouse: Warehouse, dataset: str, path: Path, rows: int) -> str:
    """Stage ``rows`` rows written to ``path`` and publish them as version 1 of ``dataset``."""
    staged = warehouse.stage(dataset, Source(path=_file(path, rows)))
    return warehouse.publish(staged, dataset, 1).location


def _count(warehouse_uri: str, location: str) -> int:
    warehouse = WAREHOUSES.open(warehouse_uri)
    relation = warehouse.table(location)
    return int(warehouse.execute(relation.count().name("n").as_table()).to_pylist()[0]["n"])


def test_a_staged_source_is_measured_then_published(warehouse_uri: str, tmp_path: Path) -> None:
    warehouse = WAREHOUSES.open(warehouse_uri)

    staged = warehouse.stage("sales", Source(path=_file(tmp_path / "sales.parquet", 10)))

    assert staged.row_count == 10 and staged.source.startswith("file:")
    assert [c["name"] for c in staged.schema] == ["x", "label"] and len(staged.fingerprint) == 64
    stored = warehouse.publish(staged, "sales", 1)
    assert warehouse.publish(staged, "sales", 1) == stored  # a retry does not duplicate rows
    location = stored.location
    assert _count(warehouse_uri, location) == 10
    # A version stored as a file records its checksum; a managed table checks itself.
    assert stored.checksum is None or len(stored.checksum) == 64
    assert warehouse.verify(location, staged.fingerprint, stored.checksum, "sales@1") is None
    assert str(warehouse.compile(warehouse.table(location).count()))


def test_the_fingerprint_ignores_row_order(warehouse_uri: str, tmp_path: Path) -> None:
    warehouse = WAREHOUSES.open(warehouse_uri)
    forward = tmp_path / "forward.parquet"
    pq.write_table(pa.table({"x": [1, 2, 3]}), forward)
    backward = tmp_path / "backward.parquet"
    pq.write_table(pa.table({"x": [3, 2, 1]}), backward)

    a = warehouse.stage("d", Source(path=forward))
    b = warehouse.stage("d", Source(path=backward))

    assert a.fingerprint == b.fingerprint
    warehouse.discard(a)
    warehouse.discard(b)
    warehouse.discard(b)  # discarding twice is fine


def test_bad_sources_are_clear_errors(warehouse_uri: str, tmp_path: Path) -> None:
    warehouse = WAREHOUSES.open(warehouse_uri)
    with pytest.raises(NotFoundError, match="no such file"):
        warehouse.stage("d", Source(path=tmp_path / "missing.parquet"))
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"x": pa.array([], pa.int64())}), empty)
    with pytest.raises(ConfigError, match="has no rows"):
        warehouse.stage("d", Source(path=empty))


def test_warehouses_opened_on_the_same_uri_share_their_data(
    warehouse_uri: str, tmp_path: Path
) -> None:
    writer = WAREHOUSES.open(warehouse_uri)
    location = _publish(writer, "sales", tmp_path / "sales.parquet", 4)
    at = datetime(2026, 11, 20, 8, tzinfo=UTC)
    writer.log_sink(None).append(EVENTS, [{"at": at, "kind": "a", "attributes": {"n": 1}}])

    reader = WAREHOUSES.open(warehouse_uri)

    assert _count(warehouse_uri, location) == 4
    events = reader.log_sink(None).relation(EVENTS)
    assert events is not None
    assert reader.execute(events.select("kind")).to_pylist() == [{"kind": "a"}]


def test_garbage_collection_keeps_every_referenced_version(
    warehouse_uri: str, tmp_path: Path
) -> None:
    warehouse = WAREHOUSES.open(warehouse_uri)
    kept = _publish(warehouse, "d", tmp_path / "a.parquet", 2)
    later = datetime.now(UTC) + timedelta(hours=1)

    would = warehouse.collect_garbage({"d": [kept]}, before=later, dry_run=True)
    removed = warehouse.collect_garbage({"d": [kept]}, before=later, dry_run=False)

    assert kept not in removed and removed == would
    assert _count(warehouse_uri, kept) == 2


def test_log_tables_grow_by_batches_whose_json_keys_may_differ(warehouse_uri: str) -> None:
    sink = WAREHOUSES.open(warehouse_uri).log_sink(None)
    assert sink.relation(EVENTS) is None  # nothing appended yet
    at = datetime(2026, 11, 20, 8, tzinfo=UTC)

    sink.append(EVENTS, [{"at": at, "kind": "a", "attributes": {"n": 1}}])
    sink.append(EVENTS, [{"at": at, "kind": "b", "attributes": {"m": "x"}}])

    relation = sink.relation(EVENTS)
    assert relation is not None
    warehouse = WAREHOUSES.open(warehouse_uri)
    rows = warehouse.execute(relation.select("kind", "attributes").order_by("kind")).to_pylist()
    assert [row["kind"] for row in rows] == ["a", "b"]
    assert [sorted(k for k, v in row["attributes"].items() if v is not None) for row in rows] == [
        ["n"],
        ["m"],
    ]
