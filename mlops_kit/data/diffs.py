"""Diffs of two dataset versions (or a version and a file): what changed and what broke.

Statistics come from the versions' stored profiles; the data is read again only where a profile
cannot answer (type conformance, columns that are text now or whose ranges are far apart, new and
vanished categories beyond the top lists, and the rows joined on a key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_kit import stats
from mlops_kit.data.diagnosis import diff_findings
from mlops_kit.data.profiles import profile
from mlops_kit.data.refs import DatasetRef, as_ref
from mlops_kit.data.rules import Rule, parse_rules
from mlops_kit.data.versions import get_version, stored_table
from mlops_kit.errors import ConfigError
from mlops_kit.findings import Finding
from mlops_kit.progress import NO_PROGRESS, Progress, Stages
from mlops_kit.warehouse import Source

if TYPE_CHECKING:
    import ibis

    from mlops_kit.kit import Kit
    from mlops_kit.warehouse import StagedData, Warehouse


@dataclass
class DatasetDiff:
    """The comparison of two dataset versions (or a version and a file).

    Attributes:
        summary: JSON-able result; keys ``a``, ``b``, ``identical``, ``schema`` (``added``,
            ``removed``, ``retyped``), ``rows``, ``columns`` (per column ``a``/``b`` statistics,
            ``drift``, ``categories``: ``new``, ``vanished`` and their ``new_count``,
            ``vanished_count``, whether they are ``exact``, and the largest share ``shifts``),
            ``conformance`` (see :func:`mlops_kit.stats.conformance`)
            and ``keys`` (with ``--key``: ``added``, ``removed``, ``changed`` counts and examples).
        histograms: per numeric column the reference and current histograms on common bins.
        findings: what broke or changed, ranked (see :mod:`mlops_kit.data.diagnosis`).
    """

    summary: dict[str, Any]
    histograms: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def violations(self, rules: str | Sequence[Rule]) -> list[str]:
        """What breaks ``rules`` in this diff, one message each (empty when it passes).

        Args:
            rules: rules from :func:`~mlops_kit.data.parse_rules`, or their text (a comma-separated
                list of the :data:`~mlops_kit.data.RULES`, such as ``conformance,psi>0.2``).

        Raises:
            ConfigError: a rule of the text is not understood.
        """
        parsed = parse_rules(rules) if isinstance(rules, str) else rules
        return [message for rule in parsed for message in rule.broken(self.summary)]


_SHOWN = ("type", "null_rate", "distinct", "min", "max", "mean", "std", "quantiles")


def _numeric_kind(type_name: str) -> bool:
    import ibis.expr.datatypes as dt

    return bool(dt.dtype(type_name).is_numeric())


def diff(
    kit: Kit,
    a: DatasetRef | str,
    b: DatasetRef | str | Path,
    *,
    key: str | None = None,
    progress: Progress = NO_PROGRESS,
) -> DatasetDiff:
    """Compare version ``a`` (the reference) with version ``b`` or a file ``b``.

    ``progress`` is told its stages: reading ``a``, reading ``b``, comparing them.

    Statistics of versions come from their stored profiles, whose histograms are compared on
    common bins (see :mod:`mlops_kit.stats`); the diff itself reads ``b`` only for its type
    conformance, for the histograms of columns that are text now or whose ranges are too far
    apart, and to join both on ``key``.

    Raises:
        ConfigError: malformed reference, unreadable file, or ``key`` missing or not unique.
        NotFoundError: unknown dataset or version, or missing file.
        BackendError: the warehouse failed.
    """
    warehouse = kit.warehouse
    ref_a = as_ref(a)
    version_a = get_version(kit, ref_a)
    stages = Stages(progress, 3)
    stages.start(f"reading {version_a.ref} ({version_a.row_count:,} rows)")
    profile_a = profile(kit, version_a.ref)
    table_a = stored_table(kit, version_a)
    staged: StagedData | None = None
    try:
        if isinstance(b, Path):
            stages.start(f"reading and profiling {b}")
            staged = warehouse.stage(version_a.name, Source(path=b))
            table_b = warehouse.table(staged.location)
            profile_b = stats.profile(warehouse, table_b)
            label_b, rows_b, fingerprint_b = str(b), staged.row_count, staged.fingerprint
        else:
            version_b = get_version(kit, as_ref(b))
            stages.start(f"reading {version_b.ref} ({version_b.row_count:,} rows)")
            profile_b = profile(kit, version_b.ref)
            table_b = stored_table(kit, version_b)
            label_b, rows_b, fingerprint_b = (
                version_b.ref,
                version_b.row_count,
                version_b.fingerprint,
            )
        joined = f" and joining them on {key}" if key else ""
        stages.start(f"comparing {len(profile_a['columns'])} columns{joined}")
        result = _compare(warehouse, table_a, profile_a, table_b, profile_b, key)
    finally:
        if staged is not None:
            warehouse.discard(staged)
    rows_a = version_a.row_count
    result.summary = {
        "a": {"ref": version_a.ref, "rows": rows_a, "fingerprint": version_a.fingerprint},
        "b": {"ref": label_b, "rows": rows_b, "fingerprint": fingerprint_b},
        "identical": version_a.fingerprint == fingerprint_b,
        "rows": {
            "a": rows_a,
            "b": rows_b,
            "change": rows_b - rows_a,
            "change_rate": (rows_b - rows_a) / rows_a if rows_a else 0.0,
        },
        **result.summary,
    }
    result.findings = diff_findings(result.summary)
    return result


def _compare(
    warehouse: Warehouse,
    table_a: ibis.Table,
    profile_a: Mapping[str, Any],
    table_b: ibis.Table,
    profile_b: Mapping[str, Any],
    key: str | None,
) -> DatasetDiff:
    columns_a, columns_b = profile_a["columns"], profile_b["columns"]
    types_a = {name: column["type"] for name, column in columns_a.items()}
    types_b = {name: column["type"] for name, column in columns_b.items()}
    schema = {
        "added": [{"name": n, "type": t} for n, t in types_b.items() if n not in types_a],
        "removed": [{"name": n, "type": t} for n, t in types_a.items() if n not in types_b],
        "retyped": [
            {"name": n, "from": t, "to": types_b[n]}
            for n, t in types_a.items()
            if n in types_b and types_b[n] != t
        ],
    }
    conformance = stats.conformance(warehouse, table_b, types_a)
    # Text that should be numbers is compared as the numbers it holds; the rest becomes null.
    coerced = [name for name in conformance if _numeric_kind(types_a[name])]
    # Numeric histograms come from both stored profiles, re-counted on common bins; only columns
    # whose ranges are too far apart, or that are text now, are binned again on the reference's.
    binned: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    rescan: dict[str, stats.Bins] = {}
    for name, column_a in columns_a.items():
        column_b = columns_b.get(name)
        if "histogram" not in column_a or column_b is None:
            continue
        pair = (
            stats.aligned(column_a["histogram"], column_b["histogram"])
            if "histogram" in column_b
            else None
        )
        if pair is not None:
            binned[name] = pair
        elif name in coerced or _numeric_kind(types_b[name]):
            rescan[name] = stats.Bins.of(column_a["histogram"])
    if rescan:
        numbers = table_b.mutate(**{name: table_b[name].try_cast("float64") for name in coerced})
        for name, histogram in stats.histograms(warehouse, numbers, rescan).items():
            binned[name] = (columns_a[name]["histogram"], histogram)
    # Top-k lists tell new and vanished categories only among their own; where either version has
    # more categories, they are compared in the data (up to CATEGORY_LIMIT of them).
    categorical = [
        name
        for name, column_a in columns_a.items()
        if column_a["kind"] == "categorical"
        and columns_b.get(name, {}).get("kind") == "categorical"
    ]
    beyond_top = [
        name
        for name in categorical
        if (columns_a[name].get("other") or columns_b[name].get("other"))
        and max(columns_a[name]["distinct"], columns_b[name]["distinct"]) <= stats.CATEGORY_LIMIT
    ]
    changes = stats.category_changes(warehouse, table_a, table_b, beyond_top) if beyond_top else {}
    columns: dict[str, Any] = {}
    for name, column_a in columns_a.items():
        column_b = columns_b.get(name)
        if column_b is None:
            continue
        entry: dict[str, Any] = {
            "a": {k: column_a[k] for k in _SHOWN if k in column_a},
            "b": {k: column_b[k] for k in _SHOWN if k in column_b},
            "drift": stats.column_drift(column_a, column_b, binned.get(name)),
        }
        if name in categorical:
            entry["categories"] = _categories(column_a, column_b, changes.get(name))
        columns[name] = entry
    summary: dict[str, Any] = {"schema": schema, "columns": columns, "conformance": conformance}
    summary["keys"] = _key_changes(warehouse, table_a, table_b, key) if key else None
    return DatasetDiff(summary, binned)


def _categories(
    a: Mapping[str, Any], b: Mapping[str, Any], changes: Mapping[str, Any] | None
) -> dict[str, Any]:
    """New, vanished and most shifted categories; from the data's ``changes`` where given."""
    counts_a = dict(a.get("top", []))
    counts_b = dict(b.get("top", []))
    total_a = sum(counts_a.values()) + a.get("other", 0) or 1
    total_b = sum(counts_b.values()) + b.get("other", 0) or 1
    shifts = sorted(
        (
            [value, counts_a.get(value, 0) / total_a, counts_b.get(value, 0) / total_b]
            for value in set(counts_a) | set(counts_b)
        ),
        key=lambda item: (-abs(item[2] - item[1]), str(item[0])),
    )
    # Exact when counted in the data or when both top lists hold every category.
    exact = changes is not None or not (a.get("other") or b.get("other"))
    if changes is None:
        new = sorted(set(counts_b) - set(counts_a), key=str)
        vanished = sorted(set(counts_a) - set(counts_b), key=str)
        changes = {
            "new": new[: stats.CATEGORY_EXAMPLES],
            "new_count": len(new),
            "vanished": vanished[: stats.CATEGORY_EXAMPLES],
            "vanished_count": len(vanished),
        }
    return {**changes, "exact": exact, "shifts": shifts[:5]}


def _key_changes(
    warehouse: Warehouse, table_a: ibis.Table, table_b: ibis.Table, key: str
) -> dict[str, Any]:
    import ibis

    for label, table in (("reference", table_a), ("current", table_b)):
        if key not in table.schema():
            raise ConfigError(
                f"key column {key!r} is not in the {label} data: pick a shared column"
            )
    uniqueness = warehouse.execute(
        ibis.union(
            table_a.aggregate(n=table_a.count(), d=table_a[key].nunique()),
            table_b.aggregate(n=table_b.count(), d=table_b[key].nunique()),
        )
    ).to_pylist()
    if any(row["n"] != row["d"] for row in uniqueness):
        raise ConfigError(f"key column {key!r} is not unique (or has nulls): pick a unique key")
    shared = [n for n in table_a.schema() if n != key and n in table_b.schema()]
    a = table_a.select(key, *(table_a[n].cast("string").name(n) for n in shared))
    b = table_b.select(key, *(table_b[n].cast("string").name(f"{n}__b") for n in shared))
    joined = a.inner_join(b, key)
    differs = ibis.or_(*(~joined[n].identical_to(joined[f"{n}__b"]) for n in shared))
    parts = {
        "added": b.anti_join(a, key).select(key),
        "removed": a.anti_join(b, key).select(key),
        "changed": joined.filter(differs).select(key) if shared else joined.limit(0).select(key),
    }
    counts = warehouse.execute(
        ibis.union(
            *(
                part.aggregate(n=part.count()).mutate(kind=ibis.literal(kind))
                for kind, part in parts.items()
            )
        )
    ).to_pylist()
    examples = warehouse.execute(
        ibis.union(
            *(
                part.order_by(key)
                .limit(stats.EXAMPLES)
                .select(kind=ibis.literal(kind), key=part[key].cast("string"))
                for kind, part in parts.items()
            )
        )
    ).to_pylist()
    result: dict[str, Any] = {"key": key}
    for row in counts:
        result[row["kind"]] = int(row["n"])
    result["examples"] = {kind: [] for kind in parts}
    for row in examples:
        result["examples"][row["kind"]].append(row["key"])
    for values in result["examples"].values():
        values.sort()
    return result
