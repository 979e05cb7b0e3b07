"""The BigQuery backend's client call path, against a recording BigQuery API on loopback.

No BigQuery emulator on the package index runs next to the duckdb/ibis versions the kit needs
(bqemulator pins another duckdb), and the emulators mishandle partitions. So the real
google-cloud-bigquery client talks to a small HTTP server on 127.0.0.1 that records every request
and answers like BigQuery's REST API: these tests check the requests (load job settings,
deterministic job ids, the partition-scoped publish script, partition filters on reads, a retried
publish awaited instead of rerun). The semantics of the generated SQL are tested on DuckDB
(``test_stats.py``).
"""

from __future__ import annotations

import json
import re
import threading
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mlops_kit import data
from mlops_kit.errors import ConfigError
from mlops_kit.kit import Kit
from tests.data.conftest import CHURN_V1, write

PROJECT, DATASET = "proj", "ds"
SCHEMA = [
    {"name": "customer_id", "type": "INTEGER", "mode": "NULLABLE"},
    {"name": "tenure", "type": "INTEGER", "mode": "NULLABLE"},
    {"name": "contract", "type": "STRING", "mode": "NULLABLE"},
]


class FakeBigQuery:
    """Records requests and answers them as the BigQuery v2 REST API does, with canned results."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.conflict_once: set[str] = set()
        self.tables: dict[str, list[dict[str, str]]] = {}
        self.rows = 3

    def job_resource(self, job_id: str, configuration: dict[str, Any]) -> dict[str, Any]:
        return {
            "kind": "bigquery#job",
            "id": f"{PROJECT}:US.{job_id}",
            "jobReference": {"projectId": PROJECT, "jobId": job_id, "location": "US"},
            "configuration": configuration,
            "status": {"state": "DONE"},
            "statistics": {"creationTime": "1", "startTime": "1", "endTime": "2"},
        }

    def insert_job(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        job_id = body["jobReference"]["jobId"]
        if job_id in self.conflict_once:
            # The first attempt reached BigQuery but its response was lost: the job exists.
            self.conflict_once.discard(job_id)
            self.jobs[job_id] = self.job_resource(job_id, body["configuration"])
            return 409, {"error": {"code": 409, "message": f"Already Exists: Job {job_id}"}}
        configuration = body["configuration"]
        if "load" in configuration:
            table = configuration["load"]["destinationTable"]["tableId"]
            self.tables[table] = SCHEMA
        query = configuration.get("query", {}).get("query", "")
        created = re.search(r"CREATE TABLE (?:IF NOT EXISTS )?`[^`]*\.([^.`]+)`", query)
        if created:
            self.tables[created.group(1)] = (
                SCHEMA
                if "_version" not in query
                else [{"name": "_version", "type": "INTEGER", "mode": "NULLABLE"}, *SCHEMA]
            )
        self.jobs[job_id] = self.job_resource(job_id, configuration)
        return 200, self.jobs[job_id]

    def results(self, job_id: str) -> dict[str, Any]:
        query = self.jobs[job_id]["configuration"].get("query", {}).get("query", "")
        fields: list[dict[str, str]] = []
        rows: list[list[Any]] = []
        if "FARM_FINGERPRINT" in query:
            fields = [
                {"name": n, "type": t}
                for n, t in (("n", "INTEGER"), ("s", "STRING"), ("x", "INTEGER"))
            ]
            rows = [[str(self.rows), "12345", "678"]]
        elif "COUNT(*)" in query:
            fields, rows = [{"name": "n", "type": "INTEGER"}], [["3"]]
        return {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": {"projectId": PROJECT, "jobId": job_id, "location": "US"},
            "jobComplete": True,
            "totalRows": str(len(rows)),
            "schema": {"fields": fields},
            "rows": [{"f": [{"v": value} for value in row]} for row in rows],
        }

    def handle(self, method: str, path: str, body: bytes, content_type: str) -> tuple[int, Any]:
        parsed: Any = None
        if content_type.startswith("multipart/"):
            message = message_from_bytes(
                b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
            )
            parts = message.get_payload()
            parsed = json.loads(parts[0].get_payload())
        elif body:
            parsed = json.loads(body)
        self.requests.append((method, path, parsed))
        route = path.split("?")[0]
        if method == "POST" and route.endswith(f"/projects/{PROJECT}/jobs"):
            return self.insert_job(parsed)
        match = re.search(r"/projects/[^/]+/queries/([^/?]+)$", route)
        if match:
            return 200, self.results(match.group(1))
        match = re.search(r"/projects/[^/]+/jobs/([^/?]+)$", route)
        if match and method == "GET":
            return 200, self.jobs[match.group(1)]
        match = re.search(r"/datasets/[^/]+/tables/([^/?]+)$", route)
        if match and method == "GET":
            name = match.group(1)
            if name not in self.tables:
                return 404, {"error": {"code": 404, "message": f"Not found: Table {name}"}}
            return 200, {
                "tableReference": {"projectId": PROJECT, "datasetId": DATASET, "tableId": name},
                "schema": {"fields": self.tables[name]},
            }
        if match and method == "DELETE":
            self.tables.pop(match.group(1), None)
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


def test_empty_data_and_bad_names_change_nothing(bq_kit, fake_bigquery, tmp_path):
    fake_bigquery.rows = 0
    with pytest.raises(ConfigError, match="has no rows"):
        data.snapshot(bq_kit, "churn", path=write(tmp_path / "c.parquet", CHURN_V1 + " LIMIT 3"))
    assert not any(name.startswith("_staging_") for name in fake_bigquery.tables)
    assert not any("DELETE FROM" in q for q in fake_bigquery.queries())
    with pytest.raises(ConfigError, match="invalid table name"):
        data.snapshot(bq_kit, "churn", table="x`; DROP TABLE y; --")
