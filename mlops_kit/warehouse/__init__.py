"""The warehouse role: where dataset versions and prediction logs live and statistics run.

Backends by scheme: ``duckdb://`` (the local twin, a DuckDB file) and ``bigquery://PROJECT/DATASET``.

Statistics are ibis expressions over :meth:`Warehouse.table` relations; :meth:`Warehouse.execute`
compiles them to the backend's SQL dialect and runs them where the data is, returning only the
(small) result as Arrow. No backend downloads a table to compute a statistic.

A dataset version is written in two steps so that a failed snapshot leaves nothing visible:
:meth:`Warehouse.stage` materialises the source next to the versions and measures it (schema, row
count, content fingerprint); :meth:`Warehouse.publish` turns the staged data into version ``N``
idempotently (a retry with the same arguments never duplicates rows) and returns the storage location
and file checksum recorded in the manifest; :meth:`Warehouse.discard` drops staged data that will not
be published. :meth:`Warehouse.verify` checks a version's stored data against its manifest before it
is read.

Log tables (the prediction log, the ground truth) only grow: :meth:`Warehouse.log_sink` returns the
:class:`LogSink` that appends batches of rows to them and reads them back as relations.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from mlops_kit.backends import Backend, SchemeRegistry
from mlops_kit.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence
    from datetime import datetime

    import ibis
    import pyarrow as pa

    from mlops_kit.warehouse.table_refs import TableRef


@dataclass(frozen=True)
class Source:
    """Where a snapshot reads its data: exactly one of a file, a SQL query or a warehouse table.

    Attributes:
        path: a Parquet, CSV or JSON-lines file on this machine.
        query: a SQL query in the warehouse's dialect.
        table: a table (or view) in the warehouse.
    """

    path: Path | None = None
    query: str | None = None
    table: TableRef | None = None

    def describe(self) -> str:
        """The source as recorded in the manifest: ``file:…``, ``query:…`` or ``table:…``."""
        if self.path is not None:
            return f"file:{self.path}"
        if self.query is not None:
            return f"query:{self.query}"
        return f"table:{self.table}"


@dataclass(frozen=True)
class StagedData:
    """Data materialised in the warehouse that is not (yet) a dataset version.

    Attributes:
        location: where the staged data is (backend-specific).
        schema: the columns, ``[{"name": ..., "type": ...}]`` with ibis type names.
        row_count: number of rows.
        fingerprint: hex digest of the schema and the multiset of rows (row order does not count).
        source: :meth:`Source.describe` of what was staged.
    """

    location: str
    schema: list[dict[str, str]]
    row_count: int
    fingerprint: str
    source: str


@dataclass(frozen=True)
class StoredVersion:
    """Where :meth:`Warehouse.publish` stored a dataset version, as its manifest records it.

    Attributes:
        location: the storage location (read by :meth:`Warehouse.table`).
        checksum: the lowercase hex SHA-256 of the stored file's bytes; ``None`` in a warehouse
            that does not store versions as files.
    """

    location: str
    checksum: str | None = None


def row_hash_sql(hex_sha256_of_json: str) -> str:
    """The SQL of a row's hash in the fingerprint.

    Args:
        hex_sha256_of_json: the dialect's expression for the lowercase hex SHA-256 of the row's
            JSON text (the row relation is named ``t``).

    A row's hash is the first 56 bits of that digest, as an integer. SHA-256 is fixed by its
    standard, unlike an engine's own hash (FARM_FINGERPRINT, DuckDB's ``hash()``) that a release may
    change: the fingerprint, and so "identical content returns the existing version", survives
    engine upgrades. 56 bits keep the integer positive in a signed 64-bit column.
    """
    return f"CAST(CONCAT('0x', SUBSTR({hex_sha256_of_json}, 1, 14)) AS INT64)"


def content_fingerprint(
    schema: list[dict[str, str]], row_count: int, hash_sum: int, hash_xor: int
) -> str:
    """The fingerprint of a dataset version: SHA-256 of its schema and the multiset of its rows.

    Args:
        schema: the columns, ``[{"name": ..., "type": ...}]`` with ibis type names.
        row_count: number of rows.
        hash_sum: the sum of the rows' :func:`row_hash_sql` values.
        hash_xor: the XOR of the same values; sum and XOR make row order irrelevant.
    """
    text = json.dumps([schema, row_count, str(hash_sum), str(hash_xor)])
    return hashlib.sha256(text.encode()).hexdigest()


_IBIS_TYPES: Final = {
    "TIMESTAMP": "timestamp('UTC')",
    "STRING": "string",
    "INT64": "int64",
    "FLOAT64": "float64",
    "JSON": "json",
}
"""The ibis type of each BigQuery column type a log table may have."""


@dataclass(frozen=True)
class TableSchema:
    """A log table: columns with BigQuery types, DAY partitioning and clustering."""

    name: str
    columns: tuple[tuple[str, str], ...]
    """``(column, BigQuery type)`` in table order."""
    partition_by: str
    """The TIMESTAMP column the table is partitioned on, by DAY."""
    cluster_by: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        """The column names in table order."""
        return [name for name, _type in self.columns]

    def ibis_schema(self) -> dict[str, str]:
        """The column types as ibis type names (for expressions on the unbound table)."""
        return {name: _IBIS_TYPES[kind] for name, kind in self.columns}


class LogSink(ABC):
    """Appends batches of rows to a warehouse's log tables and reads them back.

    A ``JSON`` column holds a dict per row whose keys may differ from batch to batch; every sink
    keeps all of them (the schema of the features evolves with the model).
    """

    @abstractmethod
    def append(self, table: TableSchema, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append ``rows`` (dicts keyed by ``table``'s columns) to ``table`` in one write.

        Raises:
            BackendError: the write failed; none of the rows are stored.
        """

    @abstractmethod
    def relation(self, table: TableSchema) -> ibis.Table | None:
        """Every row appended to ``table`` as one relation; ``None`` while the table does not exist.

        The local twin creates a log table on its first append; the cloud's are provisioned.
        """


class Warehouse(Backend):
    """A SQL warehouse that stores dataset versions and computes statistics where the data is."""

    dialect: str = ""
    """The sqlglot/ibis dialect name of the backend's SQL."""

    max_bytes_per_query: int | None = None
    """The most bytes one query may bill, from the environment's ``max_bytes_per_query``: a
    warehouse that bills by bytes scanned refuses a query over it before running it."""

    estimates_queries: bool = False
    """Whether the warehouse bills by bytes scanned and can estimate a query without running it:
    only then does :attr:`dry_run` mean anything."""

    dry_run: bool = False
    """Estimate what the first query that processes data would process, instead of running it
    (:class:`~mlops_kit.errors.DryRunEnded`), in a warehouse that :attr:`estimates_queries`."""

    bytes_processed: int | None = None
    """The bytes the queries run so far processed, from the warehouse's job statistics; None in
    a warehouse that does not bill by bytes scanned."""

    @abstractmethod
    def stage(self, dataset: str, source: Source) -> StagedData:
        """Materialise ``source`` for ``dataset`` in the warehouse, invisible to readers.

        Args:
            dataset: the dataset name (a lower-case identifier).
            source: what to read.

        Returns:
            The staged data with its schema, row count and fingerprint.

        Raises:
            NotFoundError: the file or table does not exist.
            ConfigError: the data is empty, unreadable, or has a column of an unsupported type.
            BackendError: the query failed or the warehouse is unreachable.
        """

    @abstractmethod
    def publish(self, staged: StagedData, dataset: str, version: int) -> StoredVersion:
        """Make ``staged`` version ``version`` of ``dataset``; safe to retry with the same arguments.

        Returns:
            Where the version is stored and the checksum of its file (both recorded in the
            manifest; :meth:`table` reads the location, :meth:`verify` checks the checksum).

        Raises:
            BackendError: the write failed; no partial version is readable.
        """

    @abstractmethod
    def discard(self, staged: StagedData) -> None:
        """Delete staged data that will not be published (missing data is not an error)."""

    @abstractmethod
    def collect_garbage(
        self, referenced: Mapping[str, Collection[str]], *, before: datetime, dry_run: bool
    ) -> list[str]:
        """Remove stored data that no version references; return where it was.

        A snapshot whose metadata transaction fails after publishing leaves its data behind, and a
        crashed one its staged data.

        Args:
            referenced: for every dataset with versions, the storage of its versions. The caller
                holds these datasets' locks, so none of them publishes meanwhile.
            before: the data of other datasets, and staged data, is removed only if last written
                before this time: a snapshot in flight may own it.
            dry_run: only say what would be removed.

        Raises:
            BackendError: the warehouse failed.
        """

    @abstractmethod
    def table(self, location: str) -> ibis.Table:
        """The relation of the data stored at ``location`` (a version's storage or staged data).

        Raises:
            NotFoundError: nothing is stored there.
        """

    @abstractmethod
    def execute(self, expr: ibis.Expr) -> pa.Table:
        """Compile ``expr`` (built on :meth:`table` relations) to SQL, run it, return the result.

        Raises:
            BackendError: the query failed.
        """

    @abstractmethod
    def log_sink(self, log_dataset: str | None) -> LogSink:
        """The sink of this warehouse's log tables.

        Args:
            log_dataset: where the infrastructure provisioned the log tables
                (:attr:`~mlops_kit.environments.Environment.log_dataset`), ``None`` when it did not.

        Raises:
            ConfigError: this warehouse needs provisioned log tables and ``log_dataset`` is ``None``.
        """

    def verify(
        self, location: str, fingerprint: str, checksum: str | None, what: str
    ) -> str | None:
        """Check the data stored at ``location`` against its manifest.

        Args:
            location: the version's storage location.
            fingerprint: the version's content fingerprint.
            checksum: the checksum :meth:`publish` returned for it; ``None`` for a version recorded
                before manifests held one (then its content is checked against ``fingerprint``).
            what: the version, as error messages name it.

        Returns:
            The stored file's checksum when ``checksum`` was ``None`` and the content verified
            (for the manifest to record); otherwise ``None``.

        The default trusts the backend: managed storage (BigQuery tables) checks its own data.
        Backends storing versions as files override it.

        Raises:
            NotFoundError: nothing is stored at ``location``.
            IntegrityError: the stored data is damaged; the message names ``what``.
        """
        return None

    def compile(self, expr: ibis.Expr) -> str:
        """The SQL text of ``expr`` in this warehouse's dialect."""
        import ibis

        return str(ibis.to_sql(expr, dialect=self.dialect))


WAREHOUSES: SchemeRegistry[Warehouse] = SchemeRegistry("warehouse", Warehouse)
WAREHOUSES.register(["duckdb"], "mlops_kit.warehouse.duckdb:DuckDBWarehouse")
WAREHOUSES.register(["bigquery"], "mlops_kit.warehouse.bigquery:BigQueryWarehouse")


_Format = TypeVar("_Format")


def file_format(path: Path, formats: Mapping[str, _Format]) -> _Format:
    """The warehouse's format for the local file ``path``, chosen by its suffix.

    Args:
        path: the file to read.
        formats: the warehouse's format of each supported suffix (lower case, with the dot).

    Raises:
        NotFoundError: the file does not exist.
        ConfigError: the suffix is not one of ``formats``.
    """
    if not path.is_file():
        raise NotFoundError(
            f"no such file {str(path)!r}: give an existing Parquet, CSV or JSON file"
        )
    found = formats.get(path.suffix.lower())
    if found is None:
        raise ConfigError(
            f"unsupported file type {path.suffix!r} of {str(path)!r}: "
            f"use one of {', '.join(sorted(formats))}"
        )
    return found


def column_schema(schema: Any) -> list[dict[str, str]]:
    """``[{"name", "type"}]`` of an ibis schema, the form manifests store."""
    return [{"name": str(name), "type": str(dtype)} for name, dtype in schema.items()]


def check_supported(schema: list[dict[str, str]], what: str) -> None:
    """Refuse columns that statistics and diffs cannot handle (nested, binary, JSON, intervals).

    Raises:
        ConfigError: naming the first unsupported column and its type.
    """
    import ibis.expr.datatypes as dt

    for column in schema:
        dtype = dt.dtype(column["type"])
        if not (
            dtype.is_numeric()
            or dtype.is_string()
            or dtype.is_boolean()
            or dtype.is_date()
            or dtype.is_timestamp()
        ):
            raise ConfigError(
                f"{what}: column {column['name']!r} has unsupported type {column['type']}: "
                "cast it to a number, text, boolean, date or timestamp (or drop it) first"
            )
