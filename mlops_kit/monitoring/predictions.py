"""Prediction logging from a serving path: buffered, one warehouse insert per batch.

A :class:`PredictionLogger` keeps rows in memory; its writer thread inserts them as one batch when
``batch_size`` rows are waiting or the oldest has waited ``max_delay`` seconds, and
:meth:`~PredictionLogger.close` writes the rest. :func:`log_ground_truth` records outcomes later,
by request id.

Where rows go follows the environment's warehouse: on the local twin, Parquet files beside the
DuckDB warehouse file (one per batch, so serving processes and reports never wait on DuckDB's
single-writer lock), with the features as a typed STRUCT column that DuckDB reads without parsing;
on Google Cloud, the BigQuery table ``Environment.prediction_log_table``
(provisioned by the infrastructure) and ``ground_truth`` in the same dataset, through streaming
inserts (one request per batch).
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote, urlsplit
from uuid import UUID

from typing_extensions import override

from mlops_kit.backends import uri_scheme
from mlops_kit.errors import BackendError, ConfigError, MissingDependencyError, NotFoundError
from mlops_kit.monitoring.schema import GROUND_TRUTH, PREDICTION_LOG, TableSchema

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from mlops_kit.environments import Environment
    from mlops_kit.kit import Kit
    from mlops_kit.warehouse import Warehouse

Row = dict[str, Any]


class LogSink(ABC):
    """Where batches of prediction-log and ground-truth rows are written."""

    @abstractmethod
    def write(self, schema: TableSchema, rows: list[Row]) -> None:
        """Append ``rows`` (dicts keyed by ``schema``'s columns) to the table in one insert.

        Raises:
            BackendError: the write failed; none of the rows are stored.
        """


class ParquetSink(LogSink):
    """The local twin: one Parquet file per batch in ``<table>/<day>/`` beside the warehouse file.

    Files appear atomically (written aside, then renamed), so any number of serving processes can
    log at once while reports read; DuckDB reads the folder as one table.

    A ``JSON`` column (the features) is stored as a STRUCT with one field per key: ``DOUBLE`` when
    every value of the key in the batch is a number, else ``VARCHAR`` (numbers, booleans and nested
    values as their JSON text). Batches may differ in keys and types; DuckDB unites them by name,
    and a key that is a number in one batch and text in another becomes ``VARCHAR``.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def files(self, schema: TableSchema) -> str:
        """The glob of every file of ``schema``'s table."""
        return str(self.root / schema.name / "*" / "*.parquet")

    def has_rows(self, schema: TableSchema) -> bool:
        """Whether any batch of ``schema``'s table was written."""
        return any((self.root / schema.name).glob("*/*.parquet"))

    @override
    def write(self, schema: TableSchema, rows: list[Row]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {
            name: (
                _typed_struct([row[name] for row in rows])
                if kind == "JSON"
                else pa.array([row[name] for row in rows], _arrow_type(kind))
            )
            for name, kind in schema.columns
        }
        # Parquet has no STRUCT without fields: a batch without features leaves the column out,
        # and DuckDB reads it as NULL there.
        batch = pa.table({name: array for name, array in columns.items() if array is not None})
        day = rows[0][schema.partition_by].strftime("%Y-%m-%d")
        folder = self.root / schema.name / day
        name = uuid.uuid4().hex
        try:
            folder.mkdir(parents=True, exist_ok=True)
            aside = folder / f".{name}.tmp"
            pq.write_table(batch, aside, compression="zstd")
            aside.replace(folder / f"{name}.parquet")
        except OSError as exc:
            raise BackendError(f"cannot write {schema.name} batch to {folder}: {exc}") from exc

    def relation(self, warehouse: Warehouse, schema: TableSchema) -> ir.Table:
        """Every batch of ``schema``'s table as one relation, its files united by column name."""
        import ibis
        import ibis.expr.operations as ops
        from ibis.backends.sql.datatypes import DuckDBType

        files = self.files(schema).replace("'", "''")
        query = f"SELECT * FROM read_parquet('{files}', union_by_name = true)"  # noqa: S608
        types = schema.ibis_schema()
        json_columns = [name for name, kind in schema.columns if kind == "JSON"]
        if json_columns:
            # The united STRUCT type depends on the batches written so far: DuckDB reads it from
            # the files' footers.
            probe = ops.SQLQueryResult(
                query=f"SELECT {', '.join(f'typeof({n}) AS {n}' for n in json_columns)} "  # noqa: S608
                f"FROM ({query}) LIMIT 1",
                schema=ibis.schema(dict.fromkeys(json_columns, "string")),
                source=None,
            ).to_expr()
            united = warehouse.execute(probe).to_pylist()[0]
            types.update({name: DuckDBType.from_string(united[name]) for name in json_columns})
        return ops.SQLQueryResult(query=query, schema=ibis.schema(types), source=None).to_expr()


def _arrow_type(kind: str) -> Any:
    import pyarrow as pa

    types = {
        "TIMESTAMP": pa.timestamp("us", tz="UTC"),
        "STRING": pa.string(),
        "INT64": pa.int64(),
        "FLOAT64": pa.float64(),
    }
    return types[kind]


def _typed_struct(documents: list[dict[str, Any]]) -> Any:
    """The features of a batch as a STRUCT array: a ``float64`` or ``string`` field per key."""
    import pyarrow as pa

    names = list(dict.fromkeys(name for document in documents for name in document))
    fields = []
    for name in names:
        values = [document.get(name) for document in documents]
        present = [value for value in values if value is not None]
        if present and all(_is_number(value) for value in present):
            fields.append(pa.array(values, pa.float64()))
        else:
            # Text as logged; other values as the JSON text that ``JSON_VALUE`` would return.
            texts = [v if v is None or isinstance(v, str) else json.dumps(v) for v in values]
            fields.append(pa.array(texts, pa.string()))
    if not names:
        return None
    return pa.StructArray.from_arrays(fields, names=names)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class BigQuerySink(LogSink):
    """Google Cloud: streaming inserts into the provisioned BigQuery tables."""

    def __init__(self, project: str, prediction_log_table: str) -> None:
        self.project = project
        self.tables = {
            PREDICTION_LOG.name: prediction_log_table,
            GROUND_TRUTH.name: prediction_log_table.rsplit(".", 1)[0] + "." + GROUND_TRUTH.name,
        }
        self._client: Any = None

    @override
    def write(self, schema: TableSchema, rows: list[Row]) -> None:
        if self._client is None:
            try:
                from google.cloud import bigquery
            except ImportError as exc:
                raise MissingDependencyError.for_module(
                    "google-cloud-bigquery", "gcp", "logging predictions to BigQuery"
                ) from exc
            self._client = bigquery.Client(project=self.project)
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
        table = self.tables[schema.name]
        try:
            errors = self._client.insert_rows_json(table, payload)
        except Exception as exc:
            raise BackendError(f"cannot write to BigQuery table {table}: {exc}") from exc
        if errors:
            raise BackendError(f"BigQuery refused rows of {table}: {errors[0]}")


def open_sink(environment: Environment) -> LogSink:
    """The sink of ``environment``'s warehouse.

    Raises:
        ConfigError: the warehouse cannot hold a prediction log, or the cloud environment does not
            name its prediction-log table.
    """
    uri = environment.warehouse
    scheme = uri_scheme(uri)
    if scheme == "duckdb":
        return ParquetSink(Path(unquote(urlsplit(uri).path)).parent)
    if scheme == "bigquery":
        if not environment.prediction_log_table:
            raise ConfigError(
                f"environment {environment.name!r} has no prediction_log_table: "
                "re-import it from the Pulumi stack outputs (`mlops-kit env import`)"
            )
        return BigQuerySink(urlsplit(uri).netloc, environment.prediction_log_table)
    raise ConfigError(
        f"warehouse {uri!r} cannot hold a prediction log: use duckdb:// or bigquery://"
    )


def _json_value(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


_TEXT_TYPES: Final = (date, Decimal, UUID, Path)
"""Values logged as their text (JSON has no type for them)."""


def _plain(value: Any) -> str:
    if isinstance(value, _TEXT_TYPES):
        return str(value)
    raise TypeError(f"{type(value).__name__} value {value!r} is not JSON")


def _feature_value(value: Any) -> Any:
    value = _json_value(value)
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, _TEXT_TYPES):
        return str(value)
    # Nested values are kept as their JSON text: a warehouse returns them as such.
    return json.dumps(value, default=_plain)


def _features(features: Mapping[str, Any]) -> dict[str, Any]:
    """The features as JSON scalars: numbers, text, booleans or ``None`` (NaN and infinities)."""
    try:
        return {str(name): _feature_value(value) for name, value in features.items()}
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"features cannot be logged as JSON: {exc}: pass plain values") from exc


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is None:
        raise ConfigError(f"timestamp {moment.isoformat()} has no timezone: pass an aware datetime")
    return moment.astimezone(UTC)


class PredictionLogger:
    """Buffers predictions of one model version; a background thread writes them in batches.

    :meth:`log` only serialises the row and appends it to the buffer (tens of microseconds), so
    serving threads never wait for the warehouse. The writer thread inserts a batch as soon as
    ``batch_size`` rows wait or the oldest has waited ``max_delay`` seconds. If writes keep
    failing, rows stay buffered up to ``max_buffered``; beyond that :meth:`log` raises instead of
    dropping data silently. Use it as a context manager, or call :meth:`close` at shutdown.

    Args:
        kit: the environment to log into.
        model_name: the registered model's name.
        model_version: the version that served the predictions.
        batch_size: rows per insert.
        max_delay: seconds a row may wait in the buffer before it is written.
        max_buffered: rows kept in memory while the warehouse refuses writes.
    """

    def __init__(
        self,
        kit: Kit,
        model_name: str,
        model_version: int,
        *,
        batch_size: int = 1000,
        max_delay: float = 5.0,
        max_buffered: int = 100_000,
    ) -> None:
        if batch_size < 1 or max_delay <= 0 or max_buffered < batch_size:
            raise ConfigError(
                f"invalid batching (batch_size={batch_size}, max_delay={max_delay}, "
                f"max_buffered={max_buffered}): use batch_size >= 1, max_delay > 0 and "
                "max_buffered >= batch_size"
            )
        self.sink = open_sink(kit.environment)
        self.model_name = model_name
        self.model_version = int(model_version)
        self.batch_size = batch_size
        self.max_delay = max_delay
        self.max_buffered = max_buffered
        self._rows: list[Row] = []
        self._oldest = 0.0
        self._failure: str | None = None
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self.written = 0

    def log(
        self,
        request_id: str,
        features: Mapping[str, Any],
        prediction: Any,
        score: float | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        """Buffer one prediction for the writer thread.

        Raises:
            ConfigError: the features are not JSON-able or the timestamp is naive.
            BackendError: writes have been failing and ``max_buffered`` rows are waiting.
        """
        row = {
            "logged_at": _utc(timestamp),
            "model_name": self.model_name,
            "model_version": self.model_version,
            "request_id": str(request_id),
            "features": _features(features),
            "prediction": str(_json_value(prediction)),
            "score": None if score is None else _json_value(float(score)),
        }
        with self._lock:
            if self._failure is not None and len(self._rows) >= self.max_buffered:
                raise BackendError(
                    f"{len(self._rows)} predictions are waiting because writing failed: "
                    f"{self._failure}"
                )
            if not self._rows:
                self._oldest = time.monotonic()
            self._rows.append(row)
            full = len(self._rows) >= self.batch_size
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_in_background, name="prediction-log-writer", daemon=True
                )
                self._writer.start()
        if full:
            self._wake.set()

    def flush(self) -> int:
        """Write every buffered row now; returns how many were written.

        Raises:
            BackendError: the write failed; the rows stay buffered for the next attempt.
        """
        with self._write_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            try:
                self.sink.write(PREDICTION_LOG, rows)
            except BaseException:
                with self._lock:
                    self._rows[:0] = rows
                raise
            self.written += len(rows)
            return len(rows)

    def _write_in_background(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.max_delay / 2)
            self._wake.clear()
            with self._lock:
                waiting = len(self._rows)
                due = waiting >= self.batch_size
                due = due or (waiting > 0 and time.monotonic() - self._oldest >= self.max_delay)
            if due and not self._stop.is_set():
                try:
                    self.flush()
                    self._failure = None
                except BackendError as exc:
                    # Kept buffered; retried on the next wake-up, reported by log() and close().
                    self._failure = str(exc)

    def close(self) -> None:
        """Stop the writer thread and write what is buffered.

        Raises:
            BackendError: the last write failed; the rows are still buffered.
        """
        self._stop.set()
        self._wake.set()
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        self.flush()

    def __enter__(self) -> PredictionLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def log_ground_truth(
    kit: Kit,
    labels: Mapping[str, Any] | Iterable[tuple[str, Any]],
    timestamp: datetime | None = None,
) -> int:
    """Record observed outcomes by request id, in one insert; the latest label of a request wins.

    Returns:
        The number of labels written.

    Raises:
        ConfigError: the timestamp is naive.
        BackendError: the write failed; no label is stored.
    """
    pairs = labels.items() if isinstance(labels, Mapping) else labels
    logged_at = _utc(timestamp)
    rows = [
        {"request_id": str(request_id), "label": str(_json_value(label)), "logged_at": logged_at}
        for request_id, label in pairs
    ]
    if rows:
        open_sink(kit.environment).write(GROUND_TRUTH, rows)
    return len(rows)


def log_tables(kit: Kit) -> tuple[ir.Table, ir.Table | None]:
    """The prediction log and the ground truth (``None`` before the first label) as relations.

    Raises:
        NotFoundError: no prediction was ever logged in this environment.
    """
    import ibis

    sink = open_sink(kit.environment)
    if isinstance(sink, ParquetSink):
        if not sink.has_rows(PREDICTION_LOG):
            raise NotFoundError(
                f"no predictions logged in environment {kit.environment.name!r}: "
                "log them with mlops_kit.monitoring.PredictionLogger"
            )
        log = sink.relation(kit.warehouse, PREDICTION_LOG)
        truth = sink.relation(kit.warehouse, GROUND_TRUTH) if sink.has_rows(GROUND_TRUTH) else None
        return log, truth
    assert isinstance(sink, BigQuerySink)
    project, dataset, name = sink.tables[PREDICTION_LOG.name].split(".")
    log = ibis.table(PREDICTION_LOG.ibis_schema(), name=name, catalog=project, database=dataset)
    truth = ibis.table(
        GROUND_TRUTH.ibis_schema(), name=GROUND_TRUTH.name, catalog=project, database=dataset
    )
    return log, truth
