"""The BigQuery backend's client call path, against a BigQuery REST API on loopback.

The real google-cloud-bigquery client talks to the twin's BigQuery REST fake
(:mod:`tests.cloud_twin.bigquery`: BigQuery SQL run on DuckDB through sqlglot). The tests check
the requests (load settings,
deterministic job ids, the partition-scoped publish script, partition filters on reads, a retried
publish awaited and not rerun) and round trips through the whole path. What it does not reproduce:
BigQuery's partition pruning and billing, transactions across jobs, real type coercions of
autodetect, and resumable uploads (files ≥ 5 MB).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from mlops_kit import data
from mlops_kit.errors import ConfigError, NotFoundError
from mlops_kit.kit import Kit
from mlops_kit.warehouse import WAREHOUSES, Source
from tests.cloud_twin.bigquery import FakeBigQuery
from tests.data.conftest import CHURN_V1, CHURN_V2, write

PROJECT, DATASET = "proj", "ds"


@pytest.fixture
def fake_bigquery() -> Iterator[FakeBigQuery]:
    fake = FakeBigQuery(PROJECT, (DATASET,)).start()
    yield fake
    fake.stop()


@pytest.fixture
def bq_kit(  # type: ignore[no-untyped-def]
    tmp_path: Path,
    fake_bigquery: FakeBigQuery,
    twin_credentials: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    """A kit whose warehouse URI names the fake's endpoint, with the twin's key file."""
    monkeypatch.chdir(tmp_path)
    kit = Kit.open(
        "local",
        warehouse=f"bigquery://{PROJECT}/{DATASET}?api_endpoint={fake_bigquery.endpoint}",
        metadata=f"sqlite:///{tmp_path / 'm.db'}",
    )
    yield kit
    kit.close()


def test_the_client_reaches_the_endpoint_the_uri_names_or_bigquery(
    twin_credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_kit.warehouse.bigquery import BigQueryWarehouse

    monkeypatch.delenv("BIGQUERY_EMULATOR_HOST", raising=False)
    uri = f"bigquery://{PROJECT}/{DATASET}?location=EU"
    default = BigQueryWarehouse(uri).client()
    private = BigQueryWarehouse(f"{uri}&api_endpoint=https://bigquery-p.p.googleapis.com").client()
    assert default._connection.API_BASE_URL == "https://bigquery.googleapis.com"
    assert private._connection.API_BASE_URL == "https://bigquery-p.p.googleapis.com"
    assert default.location == private.location == "EU"


def test_snapshot_loads_stages_and_publishes_one_partition(bq_kit, fake_bigquery, tmp_path):
    source = write(tmp_path / "churn.parquet", CHURN_V1 + " LIMIT 3")
    version = data.snapshot(bq_kit, "churn", path=source)
    assert (version.ref, version.row_count) == ("churn@1", 3)
    load = next(
        body for method, path, body in fake_bigquery.requests if path.startswith("/upload/")
    )
    config = load["configuration"]["load"]
    assert config["writeDisposition"] == "WRITE_EMPTY" and config["sourceFormat"] == "PARQUET"
    staging = config["destinationTable"]["tableId"]
    assert staging.startswith("_staging_churn_")
    publish = fake_bigquery.queries()[-1]
    table = bq_kit.warehouse.version_table("churn", version.schema)
    assert f"CREATE TABLE IF NOT EXISTS `{table}`" in publish
    assert "PARTITION BY RANGE_BUCKET(_version, GENERATE_ARRAY(1, 10001, 1))" in publish
    assert "require_partition_filter = TRUE" in publish
    assert "DELETE FROM" in publish and "WHERE _version = 1;" in publish
    assert f"SELECT 1 AS _version, * FROM `{PROJECT}.{DATASET}.{staging}`" in publish
    job_ids = [
        body["jobReference"]["jobId"]
        for _, _, body in fake_bigquery.requests
        if body and "jobReference" in body
    ]
    assert f"mlops_kit_publish_churn_1_{staging.rsplit('_', 1)[-1]}" in job_ids
    assert (
        "DELETE",
        f"/bigquery/v2/projects/{PROJECT}/datasets/{DATASET}/tables/{staging}",
        None,
    ) in [(m, p.split("?")[0], b) for m, p, b in fake_bigquery.requests]
    assert version.storage == f"{table}#1"


def test_a_retried_publish_waits_for_the_existing_job_instead_of_rerunning(
    bq_kit, fake_bigquery, tmp_path
):
    source = write(tmp_path / "churn.parquet", CHURN_V1 + " LIMIT 3")
    original = bq_kit.warehouse.publish

    def with_lost_response(staged, dataset, version):  # type: ignore[no-untyped-def]
        suffix = staged.location.rsplit("_", 1)[-1]
        fake_bigquery.conflict_once.add(f"mlops_kit_publish_{dataset}_{version}_{suffix}")
        return original(staged, dataset, version)

    bq_kit.warehouse.publish = with_lost_response
    version = data.snapshot(bq_kit, "churn", path=source)
    assert version.version == 1
    gets = [
        p for m, p, _ in fake_bigquery.requests if m == "GET" and "/jobs/mlops_kit_publish_" in p
    ]
    assert len(gets) == 1
    assert sum("DELETE FROM" in q for q in fake_bigquery.queries()) == 1


def test_reads_scan_only_the_version_partition(bq_kit, fake_bigquery, tmp_path):
    version = data.snapshot(
        bq_kit, "churn", path=write(tmp_path / "c.parquet", CHURN_V1 + " LIMIT 3")
    )
    sql = data.load(bq_kit, "churn@1", as_="sql")
    assert "`_version` = 1" in sql and "`_version`," not in sql
    relation = data.load(bq_kit, "churn@1", as_="ibis")
    count = bq_kit.warehouse.execute(relation.count().name("n").as_table())
    assert count["n"][0].as_py() == 3
    statistic = fake_bigquery.queries()[-1]
    assert re.search(r"WHERE\s+`t\d+`\.`_version` = 1", statistic)
    table_name = version.storage.split("#")[0].split(".")[-1]
    # Statistics never download the table: no tabledata.list on the version table.
    assert not any(f"/tables/{table_name}/data" in p for _, p, _ in fake_bigquery.requests)


def test_round_trip_gives_back_identical_data_and_schema(bq_kit, fake_bigquery, tmp_path):
    source = write(tmp_path / "c.parquet", CHURN_V1 + " ORDER BY customer_id")
    data.snapshot(bq_kit, "churn", path=source)
    expected = pq.read_table(source)
    loaded = data.load(bq_kit, "churn@1").sort_by("customer_id")
    assert loaded.schema == expected.schema
    assert loaded.equals(expected)
    assert data.load(bq_kit, "churn", as_="pandas").shape == (3000, 6)


def test_churn_incident_diff_runs_in_bigquery(bq_kit, fake_bigquery, tmp_path):
    data.snapshot(bq_kit, "churn", path=write(tmp_path / "v1.csv", CHURN_V1))
    data.snapshot(bq_kit, "churn", path=write(tmp_path / "v2.csv", CHURN_V2))
    result = data.diff(bq_kit, "churn@1", "churn@2")
    broken = {k: v["nonconforming"] for k, v in result.summary["conformance"].items()}
    assert broken == {"tenure": 75, "monthly_charges": 168}
    assert result.summary["conformance"]["tenure"]["examples"] == [["unknown", 75]]
    assert len(result.violations("conformance")) == 2
    # The versions went to two tables (the schema changed), each read by its partition only.
    assert len({v.storage.split("#")[0] for v in data.list_versions(bq_kit, "churn")}) == 2
    for sql in fake_bigquery.queries():
        if "churn__" in sql and sql.lstrip().startswith("SELECT"):
            assert re.search(r"`_version` = [12]", sql), sql


def test_query_source_and_a_failing_query(bq_kit, fake_bigquery, tmp_path):
    fake_bigquery.db.execute(f"CREATE TABLE {PROJECT}.{DATASET}.customers AS {CHURN_V1}")
    version = data.snapshot(
        bq_kit, "long", query=f"SELECT * FROM `{PROJECT}.{DATASET}.customers` WHERE tenure > 60"
    )
    assert version.row_count == 492  # tenure 61..72 of 1..72
    by_table = data.snapshot(bq_kit, "customers", table="customers")
    assert by_table.row_count == 3000
    # A project-qualified name with hyphens (the generated cloud config's default) is read once,
    # not prefixed with the warehouse's project again.
    fake_bigquery.create_dataset("my-project-1", "ds_source")
    fake_bigquery.db.execute(f'CREATE TABLE "my-project-1"."ds_source"."customers" AS {CHURN_V1}')
    qualified = data.snapshot(bq_kit, "other", table="my-project-1.ds_source.customers")
    assert (qualified.row_count, qualified.source) == (
        3000,
        "table:my-project-1.ds_source.customers",
    )
    with pytest.raises(NotFoundError, match="cannot read query:.*nowhere_at_all"):
        data.snapshot(bq_kit, "long", query="SELECT nope FROM nowhere_at_all")
    with pytest.raises(ConfigError, match="is not one read-only SELECT"):
        data.snapshot(bq_kit, "long", query="SELECT 1 +")
    assert [v.version for v in data.list_versions(bq_kit, "long")] == [1]


def test_empty_data_and_bad_names_change_nothing(bq_kit, fake_bigquery, tmp_path):
    with pytest.raises(ConfigError, match="has no rows"):
        data.snapshot(bq_kit, "churn", path=write(tmp_path / "c.parquet", CHURN_V1 + " LIMIT 0"))
    assert not any(name.startswith("_staging_") for name in fake_bigquery.tables())
    assert not any("DELETE FROM" in q for q in fake_bigquery.queries())
    with pytest.raises(ConfigError, match="invalid table name"):
        data.snapshot(bq_kit, "churn", table="x`; DROP TABLE y; --")


def test_a_failing_publish_leaves_no_version_and_no_staging_table(bq_kit, fake_bigquery, tmp_path):
    original = fake_bigquery.run_sql

    def failing(sql):  # type: ignore[no-untyped-def]
        if "DELETE FROM" in sql:
            raise duckdb.IOException("backend error (injected)")
        return original(sql)

    fake_bigquery.run_sql = failing
    with pytest.raises(ConfigError, match="cannot store version 1 of 'churn'.*injected"):
        data.snapshot(bq_kit, "churn", path=write(tmp_path / "c.parquet", CHURN_V1 + " LIMIT 3"))
    with pytest.raises(NotFoundError, match="unknown dataset .churn."):
        data.get_version(bq_kit, "churn")
    assert not any(name.startswith("_staging_") for name in fake_bigquery.tables())
    fake_bigquery.run_sql = original
    assert data.snapshot(bq_kit, "churn", path=tmp_path / "c.parquet").version == 1


def test_the_fingerprint_is_sha256_of_each_rows_json_text(bq_kit, fake_bigquery, tmp_path):
    # Fixed bytes: the JSON text of each row, hashed by SHA-256 (not an engine's own hash, which a
    # release may change), combined by sum and XOR of their first 56 bits.
    fake_bigquery.db.execute(
        f"CREATE TABLE {PROJECT}.{DATASET}.pairs AS SELECT * FROM (VALUES (1, 'x'), (2, 'y')) v(a, b)"
    )
    rows = [b'{"a":1,"b":"x"}', b'{"a":2,"b":"y"}']
    hashes = [int.from_bytes(hashlib.sha256(row).digest()[:7], "big") for row in rows]
    schema = [{"name": "a", "type": "int64"}, {"name": "b", "type": "string"}]
    expected = hashlib.sha256(
        json.dumps([schema, 2, str(sum(hashes)), str(hashes[0] ^ hashes[1])]).encode()
    ).hexdigest()
    version = data.snapshot(bq_kit, "pairs", table="pairs")
    assert version.schema == schema
    assert version.fingerprint == expected
    # The local twin's DuckDB warehouse computes the same digest of the same rows.
    local = WAREHOUSES.open(f"duckdb://{tmp_path / 'wh' / 'warehouse.duckdb'}")
    pairs = write(
        tmp_path / "pairs.parquet",
        "SELECT a::BIGINT AS a, b FROM (VALUES (2, 'y'), (1, 'x')) v(a, b)",
    )
    assert local.stage("pairs", Source(path=pairs)).fingerprint == expected


def test_the_same_rows_have_the_same_fingerprint_on_duckdb_and_bigquery(bq_kit, tmp_path):
    # Every column kind a snapshot keeps, with nulls, markup and quotes in the text.
    source = write(
        tmp_path / "mixed.parquet",
        "SELECT range AS id, range * 0.25::DOUBLE AS score, range % 3 = 0 AS flag, "
        "DATE '2026-01-01' + range::INTEGER AS day, "
        "CASE WHEN range % 7 = 0 THEN NULL ELSE '<b>\"it''s\"</b> ' || range END AS note "
        "FROM range(500)",
    )
    local = Kit.open(
        "local",
        warehouse=f"duckdb://{tmp_path / 'wh' / 'warehouse.duckdb'}",
        metadata=f"sqlite:///{tmp_path / 'local.db'}",
    )
    try:
        on_duckdb = data.snapshot(local, "mixed", path=source)
    finally:
        local.close()
    on_bigquery = data.snapshot(bq_kit, "mixed", path=source)
    assert on_bigquery.schema == on_duckdb.schema
    assert on_bigquery.fingerprint == on_duckdb.fingerprint


@pytest.mark.parametrize(("deadline", "retries"), [(0.5, 0), (1, 0), (3, 1), (30, 4), (600, 9)])
def test_uploads_retry_as_often_as_their_backoff_fits_in_the_deadline(
    deadline: float, retries: int
) -> None:
    from mlops_kit.warehouse.bigquery import upload_retries

    assert upload_retries(deadline) == retries
    # Waits of 1, 2, 4, ... s, each with up to 1 s of jitter.
    assert sum(2**i + 1 for i in range(retries)) <= deadline
