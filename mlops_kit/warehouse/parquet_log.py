"""The local twin's log tables: one Parquet file per batch beside the DuckDB warehouse file.

One file per batch, so serving processes and reports never wait on DuckDB's single-writer lock;
the features are a typed STRUCT column that DuckDB reads without parsing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from mlops_kit.errors import BackendError
from mlops_kit.warehouse import LogSink, TableSchema, Warehouse

if TYPE_CHECKING:
    import ibis


class ParquetLogSink(LogSink):
    """The local twin: one Parquet file per batch in ``<table>/<day>/`` beside the warehouse file.

    Files appear atomically (written aside, then renamed), so any number of serving processes can
    log at once while reports read; DuckDB reads the folder as one table.

    A ``JSON`` column (the features) is stored as a STRUCT with one field per key: ``DOUBLE`` when
    every value of the key in the batch is a number, else ``VARCHAR`` (numbers, booleans and nested
    values as their JSON text). Batches may differ in keys and types; DuckDB unites them by name,
    and a key that is a number in one batch and text in another becomes ``VARCHAR``.
    """

    def __init__(self, root: Path, warehouse: Warehouse) -> None:
        self.root = root
        self.warehouse = warehouse

    def files(self, table: TableSchema) -> str:
        """The glob of every file of ``table``."""
        return str(self.root / table.name / "*" / "*.parquet")

    def has_rows(self, table: TableSchema) -> bool:
        """Whether any batch of ``table`` was written."""
        return any((self.root / table.name).glob("*/*.parquet"))

    @override
    def append(self, table: TableSchema, rows: Sequence[Mapping[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {
            name: (
                _typed_struct([row[name] for row in rows])
                if kind == "JSON"
                else pa.array([row[name] for row in rows], _arrow_type(kind))
            )
            for name, kind in table.columns
        }
        # Parquet has no STRUCT without fields: a batch without features leaves the column out,
        # and DuckDB reads it as NULL there.
        batch = pa.table({name: array for name, array in columns.items() if array is not None})
        day = rows[0][table.partition_by].strftime("%Y-%m-%d")
        folder = self.root / table.name / day
        name = uuid.uuid4().hex
        try:
            folder.mkdir(parents=True, exist_ok=True)
            aside = folder / f".{name}.tmp"
            pq.write_table(batch, aside, compression="zstd")
            aside.replace(folder / f"{name}.parquet")
        except OSError as exc:
            raise BackendError(f"cannot write {table.name} batch to {folder}: {exc}") from exc

    @override
    def relation(self, table: TableSchema) -> ibis.Table | None:
        """Every batch of ``table`` as one relation, its files united by column name."""
        import ibis
        import ibis.expr.operations as ops
        from ibis.backends.sql.datatypes import DuckDBType

        if not self.has_rows(table):
            return None
        files = self.files(table).replace("'", "''")
        query = f"SELECT * FROM read_parquet('{files}', union_by_name = true)"  # noqa: S608
        types = table.ibis_schema()
        json_columns = [name for name, kind in table.columns if kind == "JSON"]
        if json_columns:
            # The united STRUCT type depends on the batches written so far: DuckDB reads it from
            # the files' footers.
            probe = ops.SQLQueryResult(
                query=f"SELECT {', '.join(f'typeof({n}) AS {n}' for n in json_columns)} "  # noqa: S608
                f"FROM ({query}) LIMIT 1",
                schema=ibis.schema(dict.fromkeys(json_columns, "string")),
                source=None,
            ).to_expr()
            united = self.warehouse.execute(probe).to_pylist()[0]
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
