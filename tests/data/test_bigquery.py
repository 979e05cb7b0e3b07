"""The BigQuery backend's client call path, against a BigQuery REST API on loopback.

No BigQuery emulator on the package index runs next to the duckdb/ibis versions the kit needs
(bqemulator pins another duckdb), and the emulators mishandle partitions. So the real
google-cloud-bigquery client talks to a small HTTP server on 127.0.0.1 that answers the REST calls
the kit makes (jobs.insert incl. multipart load uploads, jobs.get, jobs.getQueryResults,
tables.get, tables.delete), records every request, and runs the BigQuery SQL it receives on an
in-memory DuckDB after translating it with sqlglot. The tests check the requests (load settings,
deterministic job ids, the partition-scoped publish script, partition filters on reads, a retried
publish awaited and not rerun) and round trips through the whole path. What it does not reproduce:
BigQuery's partition pruning and billing, transactions across jobs, real type coercions of
autodetect, and resumable uploads (files ≥ 5 MB).
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot

from mlops_kit import data
from mlops_kit.errors import ConfigError, NotFoundError
from mlops_kit.kit import Kit
from tests.data.conftest import CHURN_V1, CHURN_V2, write

PROJECT, DATASET = "proj", "ds"
_BQ_TYPES = {
    "BIGINT": "INTEGER",
    "INTEGER": "INTEGER",
    "HUGEINT": "INTEGER",
    "DOUBLE": "FLOAT",
    "FLOAT": "FLOAT",
    "VARCHAR": "STRING",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "DATETIME",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
}


class FakeBigQuery:
    """BigQuery v2 REST calls answered from an in-memory DuckDB; every request is recorded."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.results_of: dict[str, pa.Table] = {}
        self.conflict_once: set[str] = set()
        self.lock = threading.Lock()
        self.db = duckdb.connect()
        self.db.execute(f"ATTACH ':memory:' AS {PROJECT}")
        self.db.execute(f"CREATE SCHEMA {PROJECT}.{DATASET}")
        # BigQuery functions the kit's SQL uses, by their DuckDB equivalents.
        self.db.execute("CREATE MACRO farm_fingerprint(x) AS (hash(x) >> 1)::BIGINT")
        self.db.execute("CREATE MACRO ieee_divide(a, b) AS a / b")

    def tables(self) -> list[str]:
        rows = self.db.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [PROJECT]
        ).fetchall()
        return [row[0] for row in rows]

    def job_resource(self, job_id: str, configuration: dict[str, Any]) -> dict[str, Any]:
        return {
            "kind": "bigquery#job",
            "id": f"{PROJECT}:US.{job_id}",
            "jobReference": {"projectId": PROJECT, "jobId": job_id, "location": "US"},
            "configuration": configuration,
            "status": {"state": "DONE"},
            "statistics": {"creationTime": "1", "startTime": "1", "endTime": "2"},
        }

    def run_sql(self, sql: str) -> pa.Table | None:
        result = None
        for statement in sqlglot.parse(sql, read="bigquery"):
            if statement is not None:
                result = self.db.execute(statement.sql(dialect="duckdb")).to_arrow_table()
        return result

    def load(self, configuration: dict[str, Any], payload: bytes) -> None:
        table = configuration["destinationTable"]["tableId"]
        assert configuration["writeDisposition"] == "WRITE_EMPTY"
        assert table not in self.tables(), "WRITE_EMPTY into an existing table"
        reader = {"PARQUET": "read_parquet", "CSV": "read_csv_auto"}[configuration["sourceFormat"]]
        with tempfile.NamedTemporaryFile() as file:
            file.write(payload)
            file.flush()
            self.db.execute(
                f'CREATE TABLE {PROJECT}.{DATASET}."{table}" AS SELECT * FROM {reader}(?)',
                [file.name],
            )

    def insert_job(self, body: dict[str, Any], payload: bytes | None) -> tuple[int, Any]:
        job_id = body["jobReference"]["jobId"]
        configuration = body["configuration"]
        error = None
        if job_id in self.conflict_once:
            # The first attempt reached BigQuery but its response was lost: the job ran, and
            # inserting the same id again is refused.
            self.conflict_once.discard(job_id)
            self.insert_job(body, payload)
            return 409, {"error": {"code": 409, "message": f"Already Exists: Job {job_id}"}}
        try:
            if "load" in configuration:
                self.load(configuration["load"], payload or b"")
            else:
                result = self.run_sql(configuration["query"]["query"])
                if result is not None:
                    self.results_of[job_id] = result
        except duckdb.CatalogException as exc:
            error = {"code": 404, "message": f"Not found: {str(exc).splitlines()[0]}"}
        except (duckdb.Error, sqlglot.errors.SqlglotError) as exc:
            error = {"code": 400, "message": str(exc).splitlines()[0]}
        if error:
            return error["code"], {"error": error}
        self.jobs[job_id] = self.job_resource(job_id, configuration)
        return 200, self.jobs[job_id]

    def results(self, job_id: str) -> dict[str, Any]:
        table = self.results_of.get(job_id, pa.table({}))
        fields = []
        for field in table.schema:
            if pa.types.is_integer(field.type):
                kind = "INTEGER"
            elif pa.types.is_floating(field.type) or pa.types.is_decimal(field.type):
                kind = "FLOAT"
            elif pa.types.is_boolean(field.type):
                kind = "BOOLEAN"
            elif pa.types.is_date(field.type):
                kind = "DATE"
            else:
                kind = "STRING"
            fields.append({"name": field.name, "type": kind, "mode": "NULLABLE"})

        def cell(value: Any) -> Any:
            if value is None:
                return None
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, float):
                return repr(value)
            return str(value)

        rows = [{"f": [{"v": cell(v)} for v in row.values()]} for row in table.to_pylist()]
        return {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": {"projectId": PROJECT, "jobId": job_id, "location": "US"},
            "jobComplete": True,
            "totalRows": str(len(rows)),
            "schema": {"fields": fields},
            "rows": rows,
        }

    def table_resource(self, name: str) -> tuple[int, Any]:
        if name not in self.tables():
            return 404, {"error": {"code": 404, "message": f"Not found: Table {name}"}}
        columns = self.db.execute(f'DESCRIBE {PROJECT}.{DATASET}."{name}"').fetchall()
        fields = [
            {
                "name": column[0],
                "type": "NUMERIC" if column[1].startswith("DECIMAL") else _BQ_TYPES[column[1]],
                "mode": "NULLABLE",
            }
            for column in columns
        ]
        return 200, {
            "tableReference": {"projectId": PROJECT, "datasetId": DATASET, "tableId": name},
            "schema": {"fields": fields},
        }

    def handle(self, method: str, path: str, body: bytes, content_type: str) -> tuple[int, Any]:
        parsed: Any = None
        payload = None
        if content_type.startswith("multipart/"):
            head = b"Content-Type: " + content_type.encode() + b"\r\n\r\n"
            parts = message_from_bytes(head + body).get_payload()
            parsed = json.loads(parts[0].get_payload())
            payload = parts[1].get_payload(decode=True)
        elif body:
            parsed = json.loads(body)
        with self.lock:
            self.requests.append((method, path, parsed))
            route = path.split("?")[0]
            if method == "POST" and route.endswith(f"/projects/{PROJECT}/jobs"):
                return self.insert_job(parsed, payload)
            match = re.search(r"/projects/[^/]+/queries/([^/?]+)$", route)
            if match:
                return 200, self.results(match.group(1))
            match = re.search(r"/projects/[^/]+/jobs/([^/?]+)$", route)
            if match and method == "GET":
                return 200, self.jobs[match.group(1)]
            match = re.search(r"/datasets/[^/]+/tables/([^/?]+)$", route)
            if match and method == "GET":
                return self.table_resource(match.group(1))
            if match and method == "DELETE":
                self.db.execute(f'DROP TABLE IF EXISTS {PROJECT}.{DATASET}."{match.group(1)}"')
                return 204, None
            return 404, {"error": {"code": 404, "message": f"unexpected {method} {path}"}}

    def queries(self) -> list[str]:
        return [
            body["configuration"]["query"]["query"]
            for method, path, body in self.requests
            if method == "POST" and body and "query" in body.get("configuration", {})
        ]


@pytest.fixture
def fake_bigquery():  # type: ignore[no-untyped-def]
    fake = FakeBigQuery()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, payload = fake.handle(
                self.command,
                self.path,
                self.rfile.read(length),
                self.headers.get("Content-Type", ""),
            )
            text = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.endpoint = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield fake
    server.shutdown()


@pytest.fixture
def bq_kit(tmp_path: Path, fake_bigquery: FakeBigQuery, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    monkeypatch.chdir(tmp_path)
    kit = Kit.open(
        "local",
        warehouse=f"bigquery://{PROJECT}/{DATASET}",
        metadata=f"sqlite:///{tmp_path / 'm.db'}",
    )
    client = bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=fake_bigquery.endpoint),  # type: ignore[attr-defined]
    )
    kit.warehouse.__dict__["_client"] = client
    yield kit
    kit.close()


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
    with pytest.raises(NotFoundError, match="cannot read query:.*nowhere_at_all"):
        data.snapshot(bq_kit, "long", query="SELECT nope FROM nowhere_at_all")
    with pytest.raises(ConfigError, match="cannot read query:"):
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
