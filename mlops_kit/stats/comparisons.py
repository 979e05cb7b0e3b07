"""Comparisons of current data with a reference that read the data: type conformance, category changes.

Each is one query whose result is a JSON-able dict, stored as it is in diffs and reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir

    from mlops_kit.warehouse import Warehouse

EXAMPLES = 5
CATEGORY_LIMIT = (
    10_000  # the most categories a column may have for its changes to be counted exactly
)
CATEGORY_EXAMPLES = 20


def conformance(
    warehouse: Warehouse, table: ibis.Table, expected: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Values of text columns that do not parse as their ``expected`` ibis type.

    Args:
        warehouse: where ``table`` lives.
        table: the data to check.
        expected: column name → expected ibis type name (for example the reference's schema).

    Returns:
        One entry per checked column (text now, numeric/boolean/temporal expected) with the counts
        of checked and nonconforming values and the most frequent nonconforming values.

    Raises:
        BackendError: a query failed.
    """
    import ibis
    import ibis.expr.datatypes as dt

    schema = table.schema()
    checked: dict[str, str] = {}
    for name, type_name in expected.items():
        if name not in schema or not schema[name].is_string():
            continue
        want = dt.dtype(type_name)
        if want.is_numeric() or want.is_boolean() or want.is_temporal():
            # Integers are checked as numbers: "3.0" is a fixable format, "unknown" is not.
            checked[name] = "float64" if want.is_numeric() else type_name
    if not checked:
        return {}

    def broken(relation: ibis.Table, name: str) -> ir.BooleanValue:
        column = relation[name]
        return column.notnull() & column.try_cast(checked[name]).isnull()

    # One query: per column, its non-null count and its nonconforming values grouped, the total
    # of those kept by a window before the examples are cut to the most frequent few.
    parts = []
    for name in checked:
        present = table.filter(table[name].notnull())
        parts.append(
            present.aggregate(n=present.count()).select(
                column=ibis.literal(name), value=ibis.null("string"), n="n", bad=ibis.null("int64")
            )
        )
        bad = table.filter(broken(table, name))
        grouped = bad.group_by(value=bad[name]).agg(n=bad.count())
        parts.append(
            grouped.mutate(bad=grouped.n.sum().over(ibis.window()))
            .order_by([ibis.desc("n"), "value"])
            .limit(EXAMPLES)
            .select(column=ibis.literal(name), value="value", n="n", bad="bad")
        )
    result: dict[str, dict[str, Any]] = {
        name: {
            "expected": expected[name],
            "actual": str(schema[name]),
            "checked": 0,
            "nonconforming": 0,
            "examples": [],
        }
        for name in checked
    }
    for record in warehouse.execute(ibis.union(*parts)).to_pylist():
        entry = result[record["column"]]
        if record["bad"] is None:
            entry["checked"] = int(record["n"])
        else:
            entry["nonconforming"] = int(record["bad"])
            entry["examples"].append([record["value"], int(record["n"])])
    for entry in result.values():
        entry["examples"].sort(key=lambda item: (-item[1], str(item[0])))
    return result


def category_changes(
    warehouse: Warehouse, reference: ibis.Table, current: ibis.Table, columns: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The categories of ``columns`` that are new in ``current`` or gone from ``reference``.

    Exact, whatever the number of categories, where top-``k`` lists can only tell about their own
    categories. Returns per column ``{"new": [value, …], "new_count", "vanished": [value, …],
    "vanished_count"}``, the values sorted and cut to :data:`CATEGORY_EXAMPLES`. One query.

    Raises:
        BackendError: the query failed.
    """
    import ibis

    parts = []
    for name in columns:
        values = [
            table.select(value=table[name].cast("string")).filter(ibis._.value.notnull()).distinct()
            for table in (reference, current)
        ]
        # New values are the current's missing from the reference; vanished ones the reverse.
        for change, found, missing in (
            ("new", values[1], values[0]),
            ("vanished", values[0], values[1]),
        ):
            gone = found.anti_join(missing, "value")
            parts.append(
                gone.mutate(total=gone.value.count().over(ibis.window()))
                .order_by("value")
                .limit(CATEGORY_EXAMPLES)
                .select(
                    column=ibis.literal(name),
                    change=ibis.literal(change),
                    value="value",
                    total="total",
                )
            )
    result: dict[str, dict[str, Any]] = {
        name: {"new": [], "new_count": 0, "vanished": [], "vanished_count": 0} for name in columns
    }
    if not parts:
        return result
    for record in warehouse.execute(ibis.union(*parts)).to_pylist():
        entry = result[record["column"]]
        entry[record["change"]].append(record["value"])
        entry[f"{record['change']}_count"] = int(record["total"])
    for entry in result.values():
        entry["new"].sort()
        entry["vanished"].sort()
    return result
