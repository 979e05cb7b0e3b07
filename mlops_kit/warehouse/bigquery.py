"""The cloud warehouse: a BigQuery dataset, ``bigquery://PROJECT/DATASET[?location=LOCATION]``.

The query parameter ``api_endpoint=URL`` sends the requests to another endpoint than
``https://bigquery.googleapis.com`` (a Private Service Connect address, or a stand-in such as an
emulator); ``BIGQUERY_EMULATOR_HOST`` does the same for every BigQuery client of the process.

Dataset versions live in integer-range partitioned tables, one partition per version:
``DATASET.<name>__<schema digest>`` partitioned by ``RANGE_BUCKET(_version, GENERATE_ARRAY(1, 10001,
1))`` with ``require_partition_filter``. Reading version N is ``WHERE _version = N``, which prunes to
that one partition. Why not ingestion-time partitions: a DAY partition holds one version a day, an
HOUR partition one an hour, and mapping a version to an ingestion time needs a lookup and partition
decorators; an integer-range partition on the version number has neither limit (up to 10,000
versions per table) and scopes every write to exactly one partition. Versions with a different
schema go to another table (the digest in the name), so a retyped column never breaks older
versions.

Writes are idempotent: the source is first copied to a staging table; publishing runs one script
job with a deterministic job id (dataset, version and staging table) that deletes and inserts the
version's partition inside a transaction. A retried publish finds the job by id (409 Already
Exists) and waits for it instead of running it twice. Statistics compile to BigQuery SQL and run
in BigQuery; only their results are downloaded.

Every call retries transient failures for the retry deadline of the Google backends
(:func:`~mlops_kit.gcp.retry_deadline`, 30 s; the client's own is 10 minutes), then fails in one
line that names the endpoint (:func:`~mlops_kit.gcp.google_error`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, urlsplit

from typing_extensions import override

from mlops_kit.errors import (
    BackendError,
    ConfigError,
    DryRunEnded,
    MlopsKitError,
    NotFoundError,
    first_line,
)
from mlops_kit.gcp import google_error, import_google_sdk, retry_deadline
from mlops_kit.warehouse import (
    LogSink,
    Source,
    StagedData,
    StoredVersion,
    TableSchema,
    Warehouse,
    check_supported,
    content_fingerprint,
    file_format,
    row_hash_sql,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    import ibis
    import pyarrow as pa

MAX_VERSIONS = 10_000
"""BigQuery allows 10,000 partitions per table: versions 1..10,000 of one schema."""

_TYPES = {
    "INTEGER": "int64",
    "INT64": "int64",
    "FLOAT": "float64",
    "FLOAT64": "float64",
    "NUMERIC": "decimal(38, 9)",
    "BIGNUMERIC": "decimal(76, 38)",
    "BOOLEAN": "boolean",
    "BOOL": "boolean",
    "STRING": "string",
    "DATE": "date",
    "TIMESTAMP": "timestamp('UTC')",
    "DATETIME": "timestamp",
}
_FORMATS = {
    ".parquet": "PARQUET",
    ".pq": "PARQUET",
    ".csv": "CSV",
    ".json": "NEWLINE_DELIMITED_JSON",
    ".jsonl": "NEWLINE_DELIMITED_JSON",
    ".ndjson": "NEWLINE_DELIMITED_JSON",
}


ROW_HASH: Final = row_hash_sql("TO_HEX(SHA256(TO_JSON_STRING(t)))")
"""A row's hash in the fingerprint (see :func:`~mlops_kit.warehouse.row_hash_sql`)."""


def _reason(error: Any) -> str | None:
    """The reason BigQuery gave for a refused request (``bytesBilledLimitExceeded``, ...)."""
    details = getattr(error, "errors", None) or [{}]
    reason = details[0].get("reason")
    return str(reason) if reason else None


def upload_retries(deadline: float) -> int:
    """How many times a file upload may be retried within ``deadline`` seconds.

    Uploads retry by google-resumable-media's policy, which takes a count, not a deadline: it waits
    1, 2, 4, ... seconds, plus up to one second of jitter, before each retry.
    """
    retries = 0
    while 2 ** (retries + 1) - 1 + (retries + 1) <= deadline:
        retries += 1
    return retries


def ibis_type(field: Any) -> str:
    """The ibis type name of a BigQuery ``SchemaField`` (unsupported kinds keep a refused type)."""
    if field.mode == "REPEATED":
        return "array<string>"
    return _TYPES.get(field.field_type, "binary")


class BigQueryWarehouse(Warehouse):
    """A warehouse in one BigQuery dataset; google-cloud-bigquery is imported on first use."""

    dialect = "bigquery"
    estimates_queries = True

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        parts = urlsplit(uri)
        dataset = parts.path.strip("/")
        if not parts.netloc or not dataset or "/" in dataset:
            raise ConfigError(f"malformed BigQuery URI {uri!r}: use 'bigquery://PROJECT/DATASET'")
        self.project = parts.netloc
        self.dataset = dataset
        query = parse_qs(parts.query)
        self.location = query.get("location", [None])[0]
        self.api_endpoint = query.get("api_endpoint", [None])[0]
        self.retry_timeout = retry_deadline()
        """Seconds during which a call retries transient failures before it gives up."""

    def client(self) -> Any:
        """A BigQuery client for the warehouse's project.

        It reaches the URI's ``api_endpoint`` if any, else ``BIGQUERY_EMULATOR_HOST`` or Google's.
        """
        bigquery = import_google_sdk(
            "google.cloud.bigquery",
            package="google-cloud-bigquery",
            purpose="the BigQuery warehouse",
        )
        return bigquery.Client(
            project=self.project,
            location=self.location,
            client_options={"api_endpoint": self.api_endpoint},
        )

    def retry(self) -> Any:
        """The retry policy of every call: the client's default, bounded by :attr:`retry_timeout`."""
        from google.cloud.bigquery.retry import DEFAULT_RETRY

        return DEFAULT_RETRY.with_timeout(self.retry_timeout)

    def error(self, what: str, exc: Exception) -> MlopsKitError:
        """The one-line error of a failed call: a refused request is the user's to fix."""
        from google.api_core import exceptions as google_errors

        if isinstance(exc, google_errors.NotFound):
            return NotFoundError(f"{what}: {first_line(exc)}")
        if isinstance(exc, google_errors.BadRequest):
            if _reason(exc) == "bytesBilledLimitExceeded":
                return ConfigError(
                    f"{what}: the query would bill more than max_bytes_per_query = "
                    f"{self.max_bytes_per_query:,} bytes, the environment's cap per query "
                    f"({first_line(exc)}): narrow the query or raise max_bytes_per_query"
                )
            return ConfigError(f"{what}: {first_line(exc)}")
        return self.backend_error(what, exc)

    def backend_error(self, what: str, exc: Exception) -> BackendError:
        """The one-line error of a failed call, whatever BigQuery said (:func:`google_error`)."""
        return google_error(
            what, exc, service="BigQuery", endpoint=self.endpoint, deadline=self.retry_timeout
        )

    def endpoint(self) -> str:
        """Where the client sends its requests."""
        return str(self._client._connection.API_BASE_URL)

    @cached_property
    def _client(self) -> Any:
        return self.client()

    @override
    def check(self) -> str:
        what = f"cannot reach BigQuery dataset {self.project}.{self.dataset}"
        try:
            dataset = self._client.get_dataset(f"{self.project}.{self.dataset}", retry=self.retry())
        except Exception as exc:
            raise self.error(what, exc) from exc
        return f"BigQuery dataset {dataset.full_dataset_id} in {dataset.location}"

    @override
    def log_sink(self, log_dataset: str | None) -> LogSink:
        if not log_dataset:
            raise ConfigError(
                f"warehouse {self.uri!r} logs to the tables the infrastructure provisioned, and the "
                "environment has no prediction_log_table: re-import it from the Pulumi stack "
                "outputs (`mlops-kit env import`)"
            )
        return BigQueryLogSink(self, log_dataset)

    def _id(self, table: str) -> str:
        return f"{self.project}.{self.dataset}.{table}"

    def _run(self, sql: str, what: str, job_id: str | None = None) -> Any:
        """Run ``sql`` and wait; with ``job_id``, a job that already exists is awaited, not rerun.

        The query bills at most :attr:`max_bytes_per_query`; what it processed is added to
        :attr:`bytes_processed`. In a :attr:`dry_run`, BigQuery only estimates it.
        """
        from google.api_core import exceptions as google_errors
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(dry_run=self.dry_run)
        if self.max_bytes_per_query is not None:  # the client would send None as "None"
            config.maximum_bytes_billed = self.max_bytes_per_query
        try:
            try:
                # No job retries: the client wraps a retried job in retries of its own, for ten
                # minutes whatever the deadline (and a fixed job id cannot be rerun anyway). A
                # failed job fails the command; its calls retry for the deadline.
                job = self._client.query(
                    sql, job_config=config, job_id=job_id, retry=self.retry(), job_retry=None
                )
            except google_errors.Conflict:
                job = self._client.get_job(job_id, retry=self.retry())
            # No overall timeout: a query may rightly run for minutes; each call while waiting
            # for it retries for the deadline.
            result = None if self.dry_run else job.result(retry=self.retry())
        except Exception as exc:
            raise self.error(what, exc) from exc
        if self.dry_run:
            raise DryRunEnded(
                f"dry run: {what.removeprefix('cannot ')} would process "
                f"{job.total_bytes_processed or 0:,} bytes in BigQuery (later queries of "
                "this command depend on its result)"
            )
        self.bytes_processed = (self.bytes_processed or 0) + (job.total_bytes_processed or 0)
        return result

    @override
    def stage(self, dataset: str, source: Source) -> StagedData:
        staging = self._id(f"_staging_{dataset}_{uuid.uuid4().hex}")
        what = f"cannot read {source.describe()}"
        if source.path is not None:
            self._load(source.path, staging, what)
        else:
            select = source.query or self._select_all(source)
            self._run(
                f"CREATE TABLE `{staging}` OPTIONS (expiration_timestamp = "
                f"TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 1 DAY)) AS {select}",
                what,
            )
        staged = StagedData(staging, [], 0, "", source.describe())
        try:
            return self._measure(staged)
        except BaseException:
            self.discard(staged)
            raise

    def _select_all(self, source: Source) -> str:
        assert source.table is not None  # a source without a file or a query names a table
        table = source.table.qualified(self.project, self.dataset)
        return f"SELECT * FROM {table.quoted('`')}"  # noqa: S608

    def _load(self, path: Path, staging: str, what: str) -> None:
        from google.cloud import bigquery

        source_format = file_format(path, _FORMATS)
        if self.dry_run:
            raise DryRunEnded(
                f"dry run: loading {path.name} ({path.stat().st_size:,} bytes) processes no "
                "bytes in BigQuery (load jobs are not billed); later queries read what it loads"
            )
        config = bigquery.LoadJobConfig(
            source_format=source_format,
            autodetect=True,
            write_disposition=bigquery.WriteDisposition.WRITE_EMPTY,
            skip_leading_rows=1 if source_format == "CSV" else None,
        )
        try:
            with path.open("rb") as file:
                size = path.stat().st_size
                job = self._client.load_table_from_file(
                    file,
                    staging,
                    size=size,
                    job_config=config,
                    num_retries=upload_retries(self.retry_timeout),
                )
            job.result(retry=self.retry())
        except Exception as exc:
            raise self.error(what, exc) from exc

    def _measure(self, staged: StagedData) -> StagedData:
        schema = [
            {"name": field.name, "type": ibis_type(field)}
            for field in self._get_table(staged.location, f"cannot measure {staged.source}")
        ]
        check_supported(schema, staged.source)
        row = next(
            iter(
                self._run(
                    f"SELECT COUNT(*) AS n, CAST(SUM(CAST({ROW_HASH} AS BIGNUMERIC)) AS STRING) "  # noqa: S608
                    f"AS s, BIT_XOR({ROW_HASH}) AS x FROM `{staged.location}` AS t",
                    f"cannot measure {staged.source}",
                )
            )
        )
        count = int(row["n"] or 0)
        if not count:
            raise ConfigError(f"{staged.source} has no rows: a dataset version needs data")
        fingerprint = content_fingerprint(schema, count, int(Decimal(row["s"])), int(row["x"]))
        return StagedData(staged.location, schema, count, fingerprint, staged.source)

    def version_table(self, dataset: str, schema: list[dict[str, str]]) -> str:
        """The partitioned table holding the versions of ``dataset`` that have ``schema``."""
        digest = hashlib.sha256(json.dumps(schema).encode()).hexdigest()[:8]
        return self._id(f"{dataset}__{digest}")

    @override
    def publish(self, staged: StagedData, dataset: str, version: int) -> StoredVersion:
        if version > MAX_VERSIONS:
            raise BackendError(
                f"{dataset!r} has {MAX_VERSIONS} versions, BigQuery's partition limit per table"
            )
        target = self.version_table(dataset, staged.schema)
        script = f"""
CREATE TABLE IF NOT EXISTS `{target}`
PARTITION BY RANGE_BUCKET(_version, GENERATE_ARRAY(1, {MAX_VERSIONS + 1}, 1))
OPTIONS (require_partition_filter = TRUE)
AS SELECT CAST(NULL AS INT64) AS _version, * FROM `{staged.location}` WHERE FALSE;
BEGIN TRANSACTION;
DELETE FROM `{target}` WHERE _version = {version};
INSERT INTO `{target}` SELECT {version} AS _version, * FROM `{staged.location}`;
COMMIT TRANSACTION;
"""  # noqa: S608
        # Deterministic per staged data and version: a retried request finds the same job.
        job_id = f"mlops_kit_publish_{dataset}_{version}_{staged.location.rsplit('_', 1)[-1]}"
        self._run(script, f"cannot store version {version} of {dataset!r}", job_id=job_id)
        self.discard(staged)
        # A table has no file to checksum: BigQuery checks its managed storage itself.
        return StoredVersion(f"{target}#{version}")

    def _get_table(self, table_id: str, what: str) -> Any:
        """The schema of table ``table_id``."""
        try:
            return self._client.get_table(table_id, retry=self.retry()).schema
        except Exception as exc:
            raise self.error(what, exc) from exc

    @override
    def discard(self, staged: StagedData) -> None:
        try:
            self._client.delete_table(staged.location, retry=self.retry(), not_found_ok=True)
        except Exception as exc:
            raise self.error(f"cannot delete staging table {staged.location}", exc) from exc

    @override
    def collect_garbage(
        self, referenced: Mapping[str, Collection[str]], *, before: datetime, dry_run: bool
    ) -> list[str]:
        # Staging tables expire on their own, and a publish replaces its version's whole partition:
        # the next snapshot of the same schema, which takes the same number, overwrites what a
        # failed one left. Only a partition whose number goes to another schema's table stays,
        # never read (reads follow the manifests); finding it would mean listing partitions.
        return []

    @override
    def table(self, location: str) -> ibis.Table:
        import ibis

        table_id, _, version = location.partition("#")
        project, dataset, name = table_id.split(".")
        try:
            fields = self._get_table(table_id, f"cannot read stored data at {location!r}")
        except NotFoundError as exc:
            raise NotFoundError(f"no stored data at {location!r}: the table is missing") from exc
        schema = ibis.schema({field.name: ibis_type(field) for field in fields})
        relation = ibis.table(schema, name=name, catalog=project, database=dataset)
        if not version:
            return relation
        return relation.filter(relation["_version"] == int(version)).drop("_version")

    @override
    def execute(self, expr: ibis.Expr) -> pa.Table:
        result = self._run(self.compile(expr), "BigQuery query failed")
        return result.to_arrow(create_bqstorage_client=False)


class BigQueryLogSink(LogSink):
    """Log tables in a provisioned BigQuery dataset, appended by streaming inserts (one per batch).

    A ``JSON`` column takes any keys, so the features evolve without a schema change.

    Args:
        warehouse: the warehouse whose client (and project) the sink uses.
        dataset: ``PROJECT.DATASET`` of the provisioned log tables.
    """

    def __init__(self, warehouse: BigQueryWarehouse, dataset: str) -> None:
        self.warehouse = warehouse
        self.dataset = dataset

    @override
    def append(self, table: TableSchema, rows: Sequence[Mapping[str, Any]]) -> None:
        payload = [
            {
                name: value.isoformat()
                if isinstance(value, datetime)
                else json.dumps(value)
                if isinstance(value, dict)
                else value
                for name, value in row.items()
            }
            for row in rows
        ]
        table_id = f"{self.dataset}.{table.name}"
        client = self.warehouse._client  # the warehouse's client, created on first use
        try:
            errors = client.insert_rows_json(table_id, payload, retry=self.warehouse.retry())
        except Exception as exc:
            # A BackendError whatever the cause: the logger keeps the rows and retries them.
            what = f"cannot write to BigQuery table {table_id}"
            raise self.warehouse.backend_error(what, exc) from exc
        if errors:
            raise BackendError(f"BigQuery refused rows of {table_id}: {errors[0]}")

    @override
    def relation(self, table: TableSchema) -> ibis.Table:
        import ibis

        project, dataset = self.dataset.split(".")
        return ibis.table(table.ibis_schema(), name=table.name, catalog=project, database=dataset)
