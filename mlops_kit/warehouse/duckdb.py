"""The local twin's warehouse: one DuckDB database file, dataset versions as Parquet files.

Versions are content-addressed Parquet files ``<dir>/datasets/<name>/<fingerprint>.parquet`` next to
the database file: any number of processes can snapshot at once (a DuckDB file admits one writer),
publishing is one atomic rename, and identical content is stored once. Manifests record the path
relative to ``<dir>`` (``datasets/<name>/<fingerprint>.parquet``), so a moved or copied warehouse
folder reads its own files. ``--table`` and ``--query``
sources read the database file (read-only).

A manifest also records the SHA-256 of its version's file: a version is verified before it is read by
hashing the file's bytes, once per file state in a process. A version recorded before manifests held
that checksum is verified by recomputing its content fingerprint instead.

Resource settings ride on the URI's query, ``duckdb:///path/warehouse.duckdb?memory_limit=2GB&threads=2``,
and apply to every DuckDB connection the warehouse opens (see :data:`SETTINGS`).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from typing_extensions import override

from mlops_kit.errors import (
    BackendError,
    ConfigError,
    IntegrityError,
    NotFoundError,
    first_line,
    shorten,
)
from mlops_kit.files import disk_full, write_failed
from mlops_kit.warehouse import (
    LogSink,
    Source,
    StagedData,
    StoredVersion,
    Warehouse,
    check_supported,
    column_schema,
    content_fingerprint,
    file_format,
    row_hash_sql,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping
    from datetime import datetime

    import duckdb
    import ibis
    import pyarrow as pa

_READERS = {
    ".parquet": "read_parquet",
    ".pq": "read_parquet",
    ".csv": "read_csv_auto",
    ".tsv": "read_csv_auto",
    ".json": "read_json_auto",
    ".jsonl": "read_json_auto",
    ".ndjson": "read_json_auto",
}


SETTINGS = {
    "memory_limit": (
        re.compile(r"^[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE),
        "a size such as 2GB or 512MB",
    ),
    "threads": (re.compile(r"^[1-9][0-9]{0,3}$"), "a whole number of threads ≥ 1"),
}
"""The DuckDB settings a warehouse URI may carry: name → (accepted form, how to write it)."""

DEFAULT_MEMORY_LIMIT = "2GB"
"""DuckDB's own default is 80 % of the machine's memory: a 10 M-row report then peaks at 7.5 GB;
with 2 GB it peaks at 2.4 GB and spills the rest to disk, at a small cost in time."""


ROW_HASH = row_hash_sql("sha256(to_json(t)::VARCHAR)")
"""A row's hash in the fingerprint, the BigQuery warehouse's formula in DuckDB's spelling."""

LEGACY_ROW_HASH = "hash(t)"
"""The row hash of fingerprints recorded before they were SHA-256: DuckDB's own ``hash()``.

Versions stored then keep verifying (see ``DuckDBWarehouse._intact``) as long as the installed
DuckDB computes ``hash()`` as the one that stored them did; a new snapshot of the same content
records a new version under the SHA-256 fingerprint.
"""


def duckdb_settings(uri: str, query: str) -> dict[str, str]:
    """The DuckDB settings of a warehouse URI's ``query``, with the default memory limit.

    Raises:
        ConfigError: an unknown setting, a repeated one, or a value DuckDB would refuse.
    """
    settings = {"memory_limit": DEFAULT_MEMORY_LIMIT}
    seen: set[str] = set()
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in SETTINGS:
            raise ConfigError(
                f"unknown DuckDB setting {name!r} in warehouse URI {uri!r}: "
                f"use {' or '.join(SETTINGS)}"
            )
        pattern, form = SETTINGS[name]
        if name in seen or not pattern.match(value.strip()):
            raise ConfigError(
                f"invalid DuckDB setting {name}={value!r} in warehouse URI {uri!r}: "
                f"give it once, as {form}"
            )
        seen.add(name)
        settings[name] = value.strip()
    return settings


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def file_relation(path: Path) -> str:
    """The DuckDB table function reading ``path`` by its suffix.

    Raises:
        NotFoundError: the file does not exist.
        ConfigError: the suffix is not a supported format.
    """
    return f"{file_format(path, _READERS)}({_literal(str(path))})"


class DuckDBWarehouse(Warehouse):
    """A warehouse in a DuckDB file, ``duckdb:///absolute/path/warehouse.duckdb[?memory_limit=…&threads=…]``."""

    dialect = "duckdb"
    runs_here = True

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        parts = urlsplit(uri)
        if parts.netloc or not parts.path:
            raise ConfigError(
                f"malformed DuckDB URI {uri!r}: use 'duckdb:///absolute/path/warehouse.duckdb'"
            )
        self.path = Path(unquote(parts.path))
        self.root = self.path.parent
        """The warehouse folder: stored locations are relative to it."""
        self.versions_root = self.root / "datasets"
        # Spilled data goes next to the warehouse, not into whatever directory the process runs in.
        self.settings: dict[str, Any] = duckdb_settings(uri, parts.query) | {
            "temp_directory": str(self.path.parent / ".duckdb-spill")
        }
        # Relation names of table() → the Parquet files they read, inlined by compile().
        self._relations: dict[str, str] = {}
        # Files found intact: (path, size, mtime, fingerprint); a changed file is checked again.
        self._verified: set[tuple[str, int, int, str]] = set()
        # SHA-256 of files by (path, size, mtime): a changed file is hashed again.
        self._checksums: dict[tuple[str, int, int], str] = {}

    @cached_property
    def _connection(self) -> duckdb.DuckDBPyConnection:
        import duckdb

        return duckdb.connect(config=self.settings)

    def _source_connection(self) -> duckdb.DuckDBPyConnection:
        import duckdb

        if not self.path.exists():
            return duckdb.connect(config=self.settings)
        try:
            return duckdb.connect(str(self.path), read_only=True, config=self.settings)
        except duckdb.Error as exc:
            raise BackendError(f"cannot open DuckDB warehouse {self.path}: {exc}") from exc

    @override
    def check(self) -> str:
        import duckdb

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with duckdb.connect(str(self.path), config=self.settings) as connection:
                connection.execute("SELECT 1").fetchall()
        except (OSError, duckdb.Error) as exc:
            raise BackendError(f"cannot open DuckDB warehouse {self.path}: {exc}") from exc
        return f"DuckDB {duckdb.__version__} at {self.path}"

    @override
    def log_sink(self, log_dataset: str | None) -> LogSink:
        from mlops_kit.warehouse.parquet_log import ParquetLogSink

        # Log tables are Parquet folders beside the database file, wherever the infrastructure is.
        return ParquetLogSink(self.path.parent, self)

    @override
    def stage(self, dataset: str, source: Source) -> StagedData:
        import duckdb

        if source.path is not None:
            relation, connection = file_relation(source.path), self._connection
        elif source.query is not None:
            # The newline ends a trailing ``--`` comment of the query before the wrapper's parenthesis.
            relation, connection = f"({source.query}\n)", self._source_connection()
        else:
            assert source.table is not None  # a source without a file or a query names a table
            relation, connection = source.table.quoted('"'), self._source_connection()
        staging = self.versions_root / dataset / ".staging" / f"{uuid.uuid4().hex}.parquet"
        try:
            self._copy(connection, relation, staging)
            return self._measure(staging, source)
        except duckdb.CatalogException as exc:
            staging.unlink(missing_ok=True)
            raise NotFoundError(f"{source.describe()}: {first_line(exc)}") from exc
        except (OSError, duckdb.Error) as exc:
            staging.unlink(missing_ok=True)
            if isinstance(exc, OSError) or disk_full(exc):
                # Writing the staged copy failed (a full disk): not a problem of the source.
                raise write_failed(f"a snapshot of {dataset!r}", staging.parent, exc) from exc
            raise ConfigError(f"cannot read {source.describe()}: {first_line(exc)}") from exc
        except BaseException:
            staging.unlink(missing_ok=True)
            raise
        finally:
            if connection is not self._connection:
                connection.close()

    @staticmethod
    def _copy(connection: duckdb.DuckDBPyConnection, relation: str, staging: Path) -> None:
        """Write ``relation`` to the Parquet file ``staging``: where a snapshot's bytes land."""
        staging.parent.mkdir(parents=True, exist_ok=True)
        connection.execute(
            f"COPY (SELECT * FROM {relation}) TO {_literal(str(staging))} "  # noqa: S608
            "(FORMAT parquet, COMPRESSION zstd)"
        )

    def _measure(self, staging: Path, source: Source) -> StagedData:
        import ibis
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrow_schema = pq.read_schema(staging)
        unsupported = (KeyError, TypeError, ValueError, NotImplementedError)
        try:
            ibis_schema = ibis.Schema.from_pyarrow(arrow_schema)
        except unsupported:
            # DuckDB reads a JSON column that mixes numbers and text as JSON, which ibis lacks:
            # name the first column ibis cannot type.
            for column in arrow_schema:
                try:
                    ibis.Schema.from_pyarrow(pa.schema([column]))
                except unsupported as exc:
                    raise ConfigError(
                        f"{shorten(source.describe())}: column {shorten(column.name)!r} has "
                        f"unsupported type {column.type}: give it one type (number, text, "
                        "boolean, date or timestamp) in every row"
                    ) from exc
            raise
        schema = column_schema(ibis_schema)
        check_supported(schema, shorten(source.describe()))
        count, fingerprint = self._fingerprint(staging, schema)
        if not count:
            raise ConfigError(f"{source.describe()} has no rows: a dataset version needs data")
        return StagedData(str(staging), schema, count, fingerprint, source.describe())

    def _fingerprint(
        self, path: Path, schema: list[dict[str, str]], row_hash: str = ROW_HASH
    ) -> tuple[int, str]:
        """The row count and content fingerprint of the Parquet file ``path``."""
        count, total, xor = self._connection.execute(
            f"SELECT count(*), sum(({row_hash})::HUGEINT), bit_xor({row_hash}) "  # noqa: S608
            f"FROM read_parquet({_literal(str(path))}) AS t"
        ).fetchone() or (0, 0, 0)
        return int(count), content_fingerprint(schema, int(count), int(total or 0), int(xor or 0))

    def _intact(self, path: Path, fingerprint: str) -> bool:
        """Whether ``path`` reads back with content ``fingerprint`` (checked once per file state)."""
        import duckdb
        import ibis
        import pyarrow.parquet as pq

        try:
            stat = path.stat()
            state = (str(path), stat.st_size, stat.st_mtime_ns, fingerprint)
            if state in self._verified:
                return True
            schema = column_schema(ibis.Schema.from_pyarrow(pq.read_schema(path)))
            intact = any(
                self._fingerprint(path, schema, row_hash)[1] == fingerprint
                for row_hash in (ROW_HASH, LEGACY_ROW_HASH)
            )
        except (OSError, duckdb.Error, ValueError, KeyError, TypeError):
            # pyarrow's ArrowInvalid is a ValueError: a truncated or garbled footer.
            return False
        if intact:
            self._verified.add(state)
        return intact

    def file(self, location: str) -> Path:
        """The file of a stored ``location``.

        Relative to :attr:`root`, or absolute: staged data, and a version recorded before the
        metadata migration 0009 made locations relative.
        """
        return self.root / location

    def checksum(self, path: Path) -> str:
        """The SHA-256 of the bytes of the file ``path`` (hashed once per file state).

        Raises:
            OSError: the file cannot be read.
        """
        stat = path.stat()
        state = (str(path), stat.st_size, stat.st_mtime_ns)
        found = self._checksums.get(state)
        if found is None:
            with path.open("rb") as file:
                found = hashlib.file_digest(file, "sha256").hexdigest()
            self._checksums[state] = found
        return found

    @override
    def verify(
        self, location: str, fingerprint: str, checksum: str | None, what: str
    ) -> str | None:
        path = self.file(location)
        if not path.is_file():
            raise NotFoundError(
                f"{what}: no stored data at {shorten(str(path))!r}: the version's file is missing"
            )
        try:
            found = self.checksum(path)
        except OSError:
            found = None
        # A manifest without a checksum predates them: its version is checked by its content.
        intact = found == checksum if checksum is not None else self._intact(path, fingerprint)
        if not intact:
            raise IntegrityError(
                f"{what} is damaged: its stored file {shorten(str(path))!r} no longer matches the "
                "checksum in its manifest; restore the file from a backup, or snapshot the source "
                "again (a snapshot of the same content repairs it)"
            )
        return found if checksum is None else None

    @override
    def publish(self, staged: StagedData, dataset: str, version: int) -> StoredVersion:
        final = self.versions_root / dataset / f"{staged.fingerprint}.parquet"
        try:
            # A damaged file of the same content is replaced by the fresh copy.
            if final.exists() and self._intact(final, staged.fingerprint):
                Path(staged.location).unlink(missing_ok=True)
            else:
                Path(staged.location).replace(final)
            checksum = self.checksum(final)
        except OSError as exc:
            raise write_failed(f"version {version} of {dataset!r}", final.parent, exc) from exc
        return StoredVersion(final.relative_to(self.root).as_posix(), checksum)

    @override
    def discard(self, staged: StagedData) -> None:
        Path(staged.location).unlink(missing_ok=True)

    @override
    def collect_garbage(
        self, referenced: Mapping[str, Collection[str]], *, before: datetime, dry_run: bool
    ) -> list[str]:
        if not self.versions_root.is_dir():
            return []
        cutoff = before.timestamp()

        def old(path: Path) -> bool:
            try:
                return path.stat().st_mtime < cutoff
            except FileNotFoundError:  # a snapshot in flight discarded it meanwhile
                return False

        found: list[Path] = []
        for folder in sorted(path for path in self.versions_root.iterdir() if path.is_dir()):
            kept = referenced.get(folder.name)
            # Versions are matched by file name (their fingerprint), which survives a moved folder.
            names = {Path(location).name for location in kept or ()}
            found += [
                path
                for path in sorted(folder.glob("*.parquet"))
                if (path.name not in names if kept is not None else old(path))
            ]
            found += [path for path in sorted((folder / ".staging").glob("*.parquet")) if old(path)]
        if not dry_run:
            try:
                for path in found:
                    path.unlink(missing_ok=True)
            except OSError as exc:
                raise BackendError(f"cannot remove unreferenced data: {exc}") from exc
        return [str(path) for path in found]

    @override
    def table(self, location: str) -> ibis.Table:
        import ibis
        import pyarrow.parquet as pq

        path = self.file(location)
        if not path.is_file():
            raise NotFoundError(f"no stored data at {str(path)!r}: the version's file is missing")
        name = "v_" + hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:16]
        self._relations[f'"{name}"'] = f"read_parquet({_literal(str(path))})"
        return ibis.table(ibis.Schema.from_pyarrow(pq.read_schema(path)), name=name)

    @override
    def compile(self, expr: ibis.Expr) -> str:
        return self.inline(super().compile(expr))

    def inline(self, sql: str) -> str:
        """Replace the relation names of :meth:`table` by the Parquet files they read.

        The SQL then runs in any DuckDB connection, which is what ``load(..., as_="sql")`` returns.
        """
        for name, relation in self._relations.items():
            sql = sql.replace(name, relation)
        return sql

    @override
    def execute(self, expr: ibis.Expr) -> pa.Table:
        import duckdb

        try:
            return self._connection.execute(self.compile(expr)).to_arrow_table()
        except duckdb.Error as exc:
            raise BackendError(f"DuckDB query failed: {first_line(exc)}") from exc
