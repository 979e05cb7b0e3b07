"""BigQuery's v2 REST API on loopback, answered from an in-memory DuckDB.

No BigQuery emulator on the package index runs next to the duckdb/ibis versions the kit needs
(bqemulator pins another duckdb), and the emulators mishandle partitions. So the real
google-cloud-bigquery client (``BIGQUERY_EMULATOR_HOST`` or its ``api_endpoint`` client option)
talks to this server, which answers the calls the kit makes and records every request:

- jobs: ``jobs.insert`` (queries, scripts, multipart load uploads, dry runs), ``jobs.get``,
  ``jobs.getQueryResults``; the BigQuery SQL is translated to DuckDB by sqlglot and run;
- job statistics: ``totalBytesProcessed`` by BigQuery's sizes of the columns a query names (8 bytes
  a number, 2 + its UTF-8 bytes a string, 1 a boolean), ``totalBytesBilled`` rounded up to the MB
  with BigQuery's 10 MB minimum, and ``maximumBytesBilled`` refused as BigQuery refuses it;
- metadata: datasets (get, insert), tables (get, insert, list, delete);
- streaming inserts: ``tabledata.insertAll``, each row checked against the table's schema.

A table ``PROJECT.DATASET.NAME`` is the DuckDB table ``"PROJECT"."DATASET"."NAME"`` (one attached
in-memory catalog per project). What it does not reproduce: partition pruning (a partition filter
does not lower the bytes processed), transactions across jobs, autodetect's type coercions, and
resumable uploads (files of 5 MB or more).
"""

from __future__ import annotations

import json
import math
import tempfile
import threading
from email import message_from_bytes
from typing import Any
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from tests.cloud_twin.http import LoopbackServer, Reply, dispatch, error

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
    "JSON": "JSON",
}
_DUCKDB_TYPES = {
    "STRING": "VARCHAR",
    "INTEGER": "BIGINT",
    "INT64": "BIGINT",
    "FLOAT": "DOUBLE",
    "FLOAT64": "DOUBLE",
    "NUMERIC": "DECIMAL(38, 9)",
    "BOOLEAN": "BOOLEAN",
    "BOOL": "BOOLEAN",
    "DATE": "DATE",
    "DATETIME": "TIMESTAMP",
    "TIMESTAMP": "TIMESTAMPTZ",
    "JSON": "JSON",
}
_MB = 1024 * 1024
_MINIMUM_BILLED = 10 * _MB


def billed_bytes(processed: int) -> int:
    """What BigQuery bills for ``processed`` bytes: whole MB, 10 MB at least (nothing for 0)."""
    if processed == 0:
        return 0
    return max(_MINIMUM_BILLED, math.ceil(processed / _MB) * _MB)


class FakeBigQuery:
    """BigQuery v2 REST calls answered from an in-memory DuckDB; every request is recorded."""

    def __init__(self, project: str, datasets: tuple[str, ...] = (), location: str = "US") -> None:
        self.project = project
        self.location = location
        self.requests: list[tuple[str, str, Any]] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.results_of: dict[str, pa.Table] = {}
        self.conflict_once: set[str] = set()
        """Job ids whose first insert runs but answers 409, as when a response is lost."""
        self.lock = threading.RLock()
        self.db = duckdb.connect()
        # BigQuery functions the kit's SQL uses, by their DuckDB equivalents.
        self.db.execute("CREATE MACRO farm_fingerprint(x) AS (hash(x) >> 1)::BIGINT")
        self.db.execute("CREATE MACRO ieee_divide(a, b) AS a / b")
        self.datasets: dict[tuple[str, str], dict[str, Any]] = {}
        for dataset in datasets:
            self.create_dataset(project, dataset)
        self.server: LoopbackServer | None = None

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``: the client's ``api_endpoint`` / ``BIGQUERY_EMULATOR_HOST``."""
        assert self.server is not None, "the fake is not serving: call start()"
        return self.server.url

    def start(self) -> FakeBigQuery:
        """Serve the REST API on a free loopback port."""
        self.server = LoopbackServer(self.route).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    # -- storage ------------------------------------------------------------------------------

    def create_dataset(self, project: str, dataset: str) -> None:
        """Create ``project.dataset`` (and the project's catalog on first use)."""
        with self.lock:
            attached = {
                row[0]
                for row in self.db.execute(
                    "SELECT database_name FROM duckdb_databases()"
                ).fetchall()
            }
            if project not in attached:
                self.db.execute(f"ATTACH ':memory:' AS \"{project}\"")
            self.db.execute(f'CREATE SCHEMA IF NOT EXISTS "{project}"."{dataset}"')
            self.datasets[(project, dataset)] = {"creationTime": "1700000000000"}

    def create_table(
        self, project: str, dataset: str, name: str, fields: list[dict[str, str]]
    ) -> None:
        """Create an empty table with BigQuery ``fields`` (``name``, ``type``)."""
        columns = ", ".join(f'"{f["name"]}" {_DUCKDB_TYPES[f["type"].upper()]}' for f in fields)
        self.db.execute(f'CREATE TABLE "{project}"."{dataset}"."{name}" ({columns})')

    def tables(self, dataset: str | None = None) -> list[str]:
        """The table names of ``dataset`` (of every dataset when ``None``)."""
        sql = "SELECT table_name FROM duckdb_tables() WHERE database_name = ?"
        parameters = [self.project]
        if dataset is not None:
            sql += " AND schema_name = ?"
            parameters.append(dataset)
        return [row[0] for row in self.db.execute(sql, parameters).fetchall()]

    def rows(self, table_id: str) -> list[dict[str, Any]]:
        """Every row of ``PROJECT.DATASET.TABLE`` as dictionaries."""
        return self.db.execute(f"SELECT * FROM {_quoted(table_id)}").to_arrow_table().to_pylist()

    def _has_table(self, project: str, dataset: str, name: str) -> bool:
        found = self.db.execute(
            "SELECT 1 FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
            "AND table_name = ?",
            [project, dataset, name],
        ).fetchall()
        return bool(found)

    def _columns(self, project: str, dataset: str, name: str) -> list[tuple[str, str]]:
        described = self.db.execute(f'DESCRIBE "{project}"."{dataset}"."{name}"').fetchall()
        return [(row[0], row[1]) for row in described]

    # -- jobs ---------------------------------------------------------------------------------

    def run_sql(self, sql: str) -> pa.Table | None:
        """Run BigQuery ``sql`` (one statement or a script) on DuckDB; the last result."""
        result = None
        for statement in sqlglot.parse(sql, read="bigquery"):
            if statement is not None:
                result = self.db.execute(statement.sql(dialect="duckdb")).to_arrow_table()
        return result

    def bytes_processed(self, sql: str) -> int:
        """BigQuery's bytes processed by ``sql``: the logical size of every column it names."""
        total = 0
        for statement in sqlglot.parse(sql, read="bigquery"):
            if statement is None:
                continue
            named = {column.name.lower() for column in statement.find_all(exp.Column)}
            everything = any(isinstance(star, exp.Star) for star in statement.find_all(exp.Star))
            for table in statement.find_all(exp.Table):
                project = table.catalog or self.project
                if not table.db or not self._has_table(project, table.db, table.name):
                    continue
                for column, kind in self._columns(project, table.db, table.name):
                    if everything or column.lower() in named:
                        total += self._column_bytes(
                            f'"{project}"."{table.db}"."{table.name}"', column, kind
                        )
        return total

    def _column_bytes(self, table: str, column: str, kind: str) -> int:
        if kind in ("VARCHAR", "JSON"):
            size = f'SUM(2 + strlen("{column}"::VARCHAR))'
        elif kind == "BOOLEAN":
            size = f'COUNT("{column}")'
        else:
            size = f'8 * COUNT("{column}")'
        return int(self.db.execute(f"SELECT COALESCE({size}, 0) FROM {table}").fetchone()[0])  # type: ignore[index]

    def job_resource(
        self, job_id: str, configuration: dict[str, Any], processed: int
    ) -> dict[str, Any]:
        """The job resource BigQuery returns for a finished job."""
        billed = billed_bytes(processed)
        statistics: dict[str, Any] = {
            "creationTime": "1700000000000",
            "startTime": "1700000000001",
            "endTime": "1700000000002",
            "totalBytesProcessed": str(processed),
        }
        if "query" in configuration:
            statistics["query"] = {
                "totalBytesProcessed": str(processed),
                "totalBytesBilled": str(0 if configuration.get("dryRun") else billed),
                "cacheHit": False,
                "statementType": "SELECT",
            }
        return {
            "kind": "bigquery#job",
            "id": f"{self.project}:{self.location}.{job_id}",
            "jobReference": {"projectId": self.project, "jobId": job_id, "location": self.location},
            "configuration": configuration,
            "status": {"state": "DONE"},
            "statistics": statistics,
        }

    def load(self, configuration: dict[str, Any], payload: bytes) -> None:
        """A load job: a multipart upload of Parquet or CSV into a new table."""
        destination = configuration["destinationTable"]
        table = destination["tableId"]
        dataset = destination.get("datasetId")
        assert configuration["writeDisposition"] == "WRITE_EMPTY"
        assert not self._has_table(destination["projectId"], dataset, table), (
            "WRITE_EMPTY into an existing table"
        )
        reader = {"PARQUET": "read_parquet", "CSV": "read_csv_auto"}[configuration["sourceFormat"]]
        with tempfile.NamedTemporaryFile() as file:
            file.write(payload)
            file.flush()
            self.db.execute(
                f'CREATE TABLE "{destination["projectId"]}"."{dataset}"."{table}" AS '
                f"SELECT * FROM {reader}(?)",
                [file.name],
            )

    def insert_job(self, body: dict[str, Any], payload: bytes | None) -> Reply:
        """``jobs.insert``: run the job to completion (or, for a dry run, only measure it)."""
        reference = body.get("jobReference", {})
        job_id = reference.get("jobId", f"dry_run_{len(self.requests)}")
        configuration = body["configuration"]
        if job_id in self.conflict_once:
            # The first attempt reached BigQuery but its response was lost: the job ran, and
            # inserting the same id again is refused.
            self.conflict_once.discard(job_id)
            self.insert_job(body, payload)
            return error(
                409, f"Already Exists: Job {self.project}:{self.location}.{job_id}", "duplicate"
            )
        processed = 0
        try:
            if "load" in configuration:
                self.load(configuration["load"], payload or b"")
            else:
                query = configuration["query"]
                processed = self.bytes_processed(query["query"])
                limit = query.get("maximumBytesBilled")
                if limit is not None and billed_bytes(processed) > int(limit):
                    return error(
                        400,
                        f"Query exceeded limit for bytes billed: {limit}. "
                        f"{billed_bytes(processed)} or higher required.",
                        "bytesBilledLimitExceeded",
                    )
                if not configuration.get("dryRun"):
                    result = self.run_sql(query["query"])
                    if result is not None:
                        self.results_of[job_id] = result
        except duckdb.CatalogException as exc:
            return error(404, f"Not found: {str(exc).splitlines()[0]}", "notFound")
        except (duckdb.Error, sqlglot.errors.SqlglotError) as exc:
            return error(400, str(exc).splitlines()[0])
        resource = self.job_resource(job_id, configuration, processed)
        if not configuration.get("dryRun"):
            self.jobs[job_id] = resource
        return 200, resource

    def results(self, job_id: str) -> dict[str, Any]:
        """``jobs.getQueryResults``: the whole result in one page."""
        table = self.results_of.get(job_id, pa.table({}))
        fields = [
            {"name": f.name, "type": _bq_type(f.type), "mode": "NULLABLE"} for f in table.schema
        ]
        rows = [{"f": [{"v": _cell(v)} for v in row.values()]} for row in table.to_pylist()]
        return {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": {"projectId": self.project, "jobId": job_id, "location": self.location},
            "jobComplete": True,
            "totalRows": str(len(rows)),
            "schema": {"fields": fields},
            "rows": rows,
            "totalBytesProcessed": self.jobs.get(job_id, {})
            .get("statistics", {})
            .get("totalBytesProcessed", "0"),
        }

    # -- metadata -----------------------------------------------------------------------------

    def dataset_resource(self, project: str, dataset: str) -> Reply:
        """``datasets.get``."""
        if (project, dataset) not in self.datasets:
            return error(404, f"Not found: Dataset {project}:{dataset}", "notFound")
        return 200, {
            "kind": "bigquery#dataset",
            "id": f"{project}:{dataset}",
            "datasetReference": {"projectId": project, "datasetId": dataset},
            "location": self.location,
            **self.datasets[(project, dataset)],
        }

    def table_resource(self, project: str, dataset: str, name: str) -> Reply:
        """``tables.get``: the schema, row count and logical size."""
        if not self._has_table(project, dataset, name):
            return error(404, f"Not found: Table {project}:{dataset}.{name}", "notFound")
        columns = self._columns(project, dataset, name)
        fields = [
            {
                "name": column,
                "type": "NUMERIC" if kind.startswith("DECIMAL") else _BQ_TYPES[kind],
                "mode": "NULLABLE",
            }
            for column, kind in columns
        ]
        table = f'"{project}"."{dataset}"."{name}"'
        count = self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # type: ignore[index]
        size = sum(self._column_bytes(table, column, kind) for column, kind in columns)
        return 200, {
            "kind": "bigquery#table",
            "id": f"{project}:{dataset}.{name}",
            "type": "TABLE",
            "tableReference": {"projectId": project, "datasetId": dataset, "tableId": name},
            "schema": {"fields": fields},
            "numRows": str(count),
            "numBytes": str(size),
            "location": self.location,
        }

    def list_tables(self, project: str, dataset: str) -> Reply:
        """``tables.list`` (one page)."""
        if (project, dataset) not in self.datasets:
            return error(404, f"Not found: Dataset {project}:{dataset}", "notFound")
        names = self.db.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
            "ORDER BY table_name",
            [project, dataset],
        ).fetchall()
        tables = [
            {
                "kind": "bigquery#table",
                "id": f"{project}:{dataset}.{name}",
                "type": "TABLE",
                "tableReference": {"projectId": project, "datasetId": dataset, "tableId": name},
            }
            for (name,) in names
        ]
        return 200, {"kind": "bigquery#tableList", "tables": tables, "totalItems": len(tables)}

    def insert_table(self, project: str, dataset: str, body: dict[str, Any]) -> Reply:
        """``tables.insert`` of a table with a schema."""
        name = body["tableReference"]["tableId"]
        if (project, dataset) not in self.datasets:
            return error(404, f"Not found: Dataset {project}:{dataset}", "notFound")
        if self._has_table(project, dataset, name):
            return error(409, f"Already Exists: Table {project}:{dataset}.{name}", "duplicate")
        self.create_table(project, dataset, name, body.get("schema", {}).get("fields", []))
        return self.table_resource(project, dataset, name)

    def insert_all(self, project: str, dataset: str, name: str, body: dict[str, Any]) -> Reply:
        """``tabledata.insertAll``: rows with unknown fields or bad values are refused per row."""
        if not self._has_table(project, dataset, name):
            return error(404, f"Not found: Table {project}:{dataset}.{name}", "notFound")
        columns = dict(self._columns(project, dataset, name))
        table = f'"{project}"."{dataset}"."{name}"'
        problems = []
        good = []
        for index, row in enumerate(body.get("rows", [])):
            values = row["json"]
            unknown = [field for field in values if field not in columns]
            if unknown:
                problems.append(_row_error(index, unknown[0], f"no such field: {unknown[0]}."))
                continue
            good.append((index, values))
        if problems and not body.get("skipInvalidRows"):
            # BigQuery inserts nothing when a row is invalid, and marks the others "stopped".
            stopped = [
                {"index": index, "errors": [{"reason": "stopped", "location": "", "message": ""}]}
                for index, _ in good
            ]
            return 200, {
                "kind": "bigquery#tableDataInsertAllResponse",
                "insertErrors": problems + stopped,
            }
        for index, values in good:
            names = list(values)
            placeholders = ", ".join(f"CAST(? AS {columns[n]})" for n in names)
            quoted = ", ".join(f'"{n}"' for n in names)
            try:
                self.db.execute(
                    f"INSERT INTO {table} ({quoted}) VALUES ({placeholders})",
                    [values[n] for n in names],
                )
            except duckdb.Error as exc:
                problems.append(_row_error(index, "", str(exc).splitlines()[0]))
        response: dict[str, Any] = {"kind": "bigquery#tableDataInsertAllResponse"}
        if problems:
            response["insertErrors"] = problems
        return 200, response

    # -- HTTP -----------------------------------------------------------------------------------

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Answer one request of the REST API."""
        parsed: Any = None
        payload = None
        content_type = headers.get("content-type", "")
        if content_type.startswith("multipart/"):
            head = b"Content-Type: " + content_type.encode() + b"\r\n\r\n"
            parts = message_from_bytes(head + body).get_payload()
            parsed = json.loads(parts[0].get_payload())  # type: ignore[index,union-attr]
            payload = parts[1].get_payload(decode=True)  # type: ignore[index,union-attr]
        elif body:
            parsed = json.loads(body)
        with self.lock:
            self.requests.append((method, path, parsed))
            return self._dispatch(method, urlsplit(path).path, parsed, payload)

    def _dispatch(self, method: str, route: str, body: Any, payload: bytes | None) -> Reply:
        route = route.removeprefix("/upload").removeprefix("/bigquery/v2")
        routes: list[tuple[str, str, Any]] = [
            ("POST", r"/projects/[^/]+/jobs", lambda: self.insert_job(body, payload)),
            ("GET", r"/projects/[^/]+/queries/([^/]+)", lambda job: (200, self.results(job))),
            ("GET", r"/projects/[^/]+/jobs/([^/]+)", self.get_job),
            ("POST", r"/projects/[^/]+/datasets", lambda: self.insert_dataset(body)),
            ("GET", r"/projects/([^/]+)/datasets/([^/]+)", self.dataset_resource),
            (
                "POST",
                r"/projects/([^/]+)/datasets/([^/]+)/tables",
                lambda p, d: self.insert_table(p, d, body),
            ),
            ("GET", r"/projects/([^/]+)/datasets/([^/]+)/tables", self.list_tables),
            (
                "POST",
                r"/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)/insertAll",
                lambda p, d, t: self.insert_all(p, d, t, body),
            ),
            ("GET", r"/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)", self.table_resource),
            ("DELETE", r"/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)", self.delete_table),
        ]
        return dispatch(routes, method, route, "BigQuery")

    def get_job(self, job_id: str) -> Reply:
        """``jobs.get``."""
        if job_id not in self.jobs:
            return error(404, f"Not found: Job {self.project}:{job_id}", "notFound")
        return 200, self.jobs[job_id]

    def insert_dataset(self, body: dict[str, Any]) -> Reply:
        """``datasets.insert``."""
        project, dataset = (
            body["datasetReference"]["projectId"],
            body["datasetReference"]["datasetId"],
        )
        if (project, dataset) in self.datasets:
            return error(409, f"Already Exists: Dataset {project}:{dataset}", "duplicate")
        self.create_dataset(project, dataset)
        return self.dataset_resource(project, dataset)

    def delete_table(self, project: str, dataset: str, name: str) -> Reply:
        """``tables.delete``."""
        if not self._has_table(project, dataset, name):
            return error(404, f"Not found: Table {project}:{dataset}.{name}", "notFound")
        self.db.execute(f'DROP TABLE "{project}"."{dataset}"."{name}"')
        return 204, None

    def queries(self) -> list[str]:
        """The SQL of every query job requested, in order."""
        return [
            body["configuration"]["query"]["query"]
            for method, _path, body in self.requests
            if method == "POST" and body and "query" in body.get("configuration", {})
        ]


def _quoted(table_id: str) -> str:
    return ".".join(f'"{part}"' for part in table_id.split("."))


def _bq_type(kind: pa.DataType) -> str:
    if pa.types.is_integer(kind):
        return "INTEGER"
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "FLOAT"
    if pa.types.is_boolean(kind):
        return "BOOLEAN"
    if pa.types.is_date(kind):
        return "DATE"
    return "STRING"


def _cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _row_error(index: int, location: str, message: str) -> dict[str, Any]:
    return {
        "index": index,
        "errors": [{"reason": "invalid", "location": location, "message": message}],
    }
