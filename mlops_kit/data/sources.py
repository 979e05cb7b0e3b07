"""Sources of a snapshot, checked before the warehouse reads them.

A snapshot reads exactly one of a file, a query or a table. Files are checked for a shape the
warehouse would otherwise guess around (a ragged CSV is silently cut by a sniffing reader, a repeated
header renamed); a query must be exactly one read-only ``SELECT``, since the warehouse wraps it in
its own statement and a crafted query could otherwise close the wrapper and write a file.
"""

from __future__ import annotations

import csv
from pathlib import Path

from mlops_kit.errors import ConfigError, shorten
from mlops_kit.warehouse import Source
from mlops_kit.warehouse.table_refs import TableRef

_DELIMITERS = {".csv": ",", ".tsv": "\t"}
"""The delimited-text suffixes whose rows are checked, with their delimiter."""


def source(
    path: Path | str | None, query: str | None, table: str | TableRef | None, dialect: str
) -> Source:
    """The one source given, checked.

    Args:
        path: a Parquet, CSV or JSON-lines file.
        query: a SQL query in ``dialect``.
        table: a table in the warehouse (``project.dataset.table``, ``dataset.table``, ``table``).
        dialect: the warehouse's sqlglot dialect name.

    Raises:
        ConfigError: not exactly one source; a table name that breaks BigQuery's naming rules; a CSV
            file with a ragged row or a repeated column name; a query that is not one read-only
            ``SELECT``.
    """
    given = [value for value in (path, query, table) if value]
    if len(given) != 1:
        raise ConfigError(
            "give exactly one source of data: a file (--from PATH), a query (--query SQL) "
            "or a table (--table TABLE)"
        )
    if isinstance(table, str):
        table = TableRef.parse(table)
    if query:
        check_read_only_select(query, dialect)
    if path:
        check_delimited_file(Path(path))
    return Source(path=Path(path) if path else None, query=query or None, table=table or None)


def check_read_only_select(query: str, dialect: str) -> None:
    """Refuse anything but exactly one read-only ``SELECT`` (or set operation of them).

    Raises:
        ConfigError: the query does not parse, holds several statements, or is or contains a
            statement that writes (``COPY``, ``INSERT``, ``CREATE``, ``SELECT … INTO``, …).
    """
    import sqlglot
    from sqlglot import expressions as exp
    from sqlglot.errors import SqlglotError

    refused = ConfigError(
        f"--query {shorten(query)!r} is not one read-only SELECT: "
        "give a single SELECT statement (no ';', COPY, INSERT, CREATE or INTO)"
    )
    try:
        statements = [s for s in sqlglot.parse(query, read=dialect or None) if s is not None]
    except (SqlglotError, ValueError, RecursionError) as exc:
        raise refused from exc
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise refused
    writes = (exp.DML, exp.DDL, exp.Into, exp.Command, exp.Copy, exp.Set, exp.Pragma)
    if any(isinstance(node, writes) for node in statements[0].walk()):
        raise refused


def check_delimited_file(path: Path) -> None:
    """Refuse a CSV/TSV file with a row of another width than its header, or a repeated name.

    Other files, and files that do not exist, are left to the warehouse's reader.

    Raises:
        ConfigError: the file is not UTF-8 text, is not well-formed, has a row whose field count
            differs from the header's (named by its line number), or repeats a column name.
    """
    delimiter = _DELIMITERS.get(path.suffix.lower())
    if delimiter is None or not path.is_file():
        return
    shown = shorten(str(path))
    try:
        with path.open(newline="", encoding="utf-8") as file:
            rows = csv.reader(file, delimiter=delimiter, strict=True)
            header = next(rows, None)
            if header is None:
                return
            repeated = sorted({name for name in header if header.count(name) > 1})
            if repeated:
                raise ConfigError(
                    f"{shown!r} repeats column {shorten(repeated[0])!r} in its header: "
                    "give every column a distinct name"
                )
            for row in rows:
                if row and len(row) != len(header):
                    raise ConfigError(
                        f"{shown!r} line {rows.line_num} has {len(row)} fields where the header "
                        f"has {len(header)}: fix the row or quote the field holding "
                        f"{delimiter!r}"
                    )
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{shown!r} is not UTF-8 text (byte {exc.start}): give a UTF-8 CSV file"
        ) from exc
    except csv.Error as exc:
        raise ConfigError(f"{shown!r} is not a well-formed CSV file: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {shown!r}: {exc.strerror or exc}") from exc
