"""Comparing two model versions: lineage side by side and, on a dataset, predictions and input health.

The point is to find where a regression comes from. Metrics, parameters, training data (with the
data-versioning diff of the two training sets) and component versions show what changed between the
versions; ``on=DATASET@V`` runs both models on the same data and checks that data's health (empty,
mostly-null and constant feature columns, values that do not parse as the training type). When both
versions collapse onto one class and their feature columns are empty, the findings say so: the input
source is broken, not the model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_kit import data as datasets
from mlops_kit import stats
from mlops_kit.errors import first_line
from mlops_kit.kit import Kit
from mlops_kit.models.loading import load_model
from mlops_kit.models.lookup import get_version
from mlops_kit.models.names import ModelRef
from mlops_kit.models.versions import ModelVersion

if TYPE_CHECKING:
    from mlops_kit.reports import Page

COLLAPSE_SHARE = 0.9
"""A model whose most frequent prediction covers this share of rows has collapsed onto one class."""
MOSTLY_NULL = 0.5
"""A feature column null in at least this share of rows is reported as mostly null."""


@dataclass
class ModelComparison:
    """The comparison of two versions.

    Attributes:
        summary: JSON-able result with keys ``a``, ``b`` (refs), ``metrics`` (``overall`` and
            ``slices``: per metric ``{"a", "b", "delta"}``), ``params`` and ``components`` (per key
            ``{"a", "b"}``, differences only for packages), ``data`` (``a``, ``b`` and ``diffs``: the
            data-versioning diff summary per dataset trained on in two versions), ``on`` (with
            ``on``: ``dataset``, ``rows``, ``predictions`` per version as class → count, ``errors``
            of versions that could not predict, ``agreement``, ``health``) and ``findings``
            (sentences that point at the cause).
    """

    summary: dict[str, Any]

    @property
    def findings(self) -> list[str]:
        """What the comparison points at, most important first."""
        return list(self.summary["findings"])


def _side_by_side(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, dict[str, Any]]:
    result = {}
    for name in sorted(set(a) | set(b)):
        va, vb = a.get(name), b.get(name)
        delta = vb - va if va is not None and vb is not None else None
        result[name] = {"a": va, "b": vb, "delta": delta}
    return result


def _metrics(a: ModelVersion, b: ModelVersion) -> dict[str, Any]:
    slices: dict[str, dict[str, Any]] = {}
    for column in sorted(set(a.slices) | set(b.slices)):
        values_a, values_b = a.slices.get(column, {}), b.slices.get(column, {})
        slices[column] = {
            value: _side_by_side(values_a.get(value, {}), values_b.get(value, {}))
            for value in sorted(set(values_a) | set(values_b))
        }
    return {"overall": _side_by_side(a.metrics, b.metrics), "slices": slices}


def _pairs(a: Mapping[str, str], b: Mapping[str, str], *, changed_only: bool) -> dict[str, Any]:
    return {
        key: {"a": a.get(key), "b": b.get(key)}
        for key in sorted(set(a) | set(b))
        if not changed_only or a.get(key) != b.get(key)
    }


def _components(a: ModelVersion, b: ModelVersion) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for kind in ("kit", "python", "image"):
        result |= _pairs(a.components.get(kind, {}), b.components.get(kind, {}), changed_only=False)
    result["packages"] = _pairs(
        a.components.get("package", {}), b.components.get("package", {}), changed_only=True
    )
    return result


def _training_data(kit: Kit, a: ModelVersion, b: ModelVersion) -> dict[str, Any]:
    by_name_a = {ref.partition("@")[0]: ref for ref in a.datasets}
    by_name_b = {ref.partition("@")[0]: ref for ref in b.datasets}
    diffs = {
        name: datasets.diff(kit, by_name_a[name], by_name_b[name]).summary
        for name in sorted(set(by_name_a) & set(by_name_b))
        if by_name_a[name] != by_name_b[name]
    }
    return {"a": a.datasets, "b": b.datasets, "diffs": diffs}


def _health(
    kit: Kit, on: datasets.DatasetVersion, features: Sequence[str], trained_on: Sequence[str]
) -> dict[str, Any]:
    """Null/constant/empty columns and type conformance of ``on``, next to the training data."""
    profile = datasets.profile(kit, on.ref)
    training = datasets.profile(kit, trained_on[0]) if trained_on else None
    expected = {
        column["name"]: column["type"]
        for column in (datasets.get_version(kit, trained_on[0]).schema if trained_on else [])
    }
    table = datasets.stored_table(kit, on)
    conformance = stats.conformance(kit.warehouse, table, expected) if expected else {}
    columns: dict[str, Any] = {}
    for name, column in profile["columns"].items():
        null_rate = float(column["null_rate"])
        entry = {
            "feature": name in features,
            "type": column["type"],
            "null_rate": null_rate,
            "distinct": column["distinct"],
            "empty": null_rate >= 1.0,
            "mostly_null": null_rate >= MOSTLY_NULL,
            "constant": null_rate < 1.0 and column["distinct"] <= 1,
            "training_null_rate": (
                training["columns"][name]["null_rate"]
                if training and name in training["columns"]
                else None
            ),
            "nonconforming": conformance.get(name, {}).get("nonconforming", 0),
        }
        columns[name] = entry
    return {"rows": profile["row_count"], "columns": columns, "conformance": conformance}


def _predictions(kit: Kit, refs: Sequence[str], on: datasets.DatasetVersion) -> dict[str, Any]:
    frame = datasets.load(kit, on.ref, as_="pandas")
    predicted: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    features: set[str] = set()
    for ref in refs:
        model = load_model(kit, ref)
        features |= set(model.features or frame.columns)
        try:
            predicted[ref] = [str(label) for label in model.predict(frame)]
        except (ValueError, TypeError) as exc:
            # Bad input (text in a numeric column) is what the comparison must report, with the
            # data's health, rather than stop at.
            errors[ref] = first_line(exc)
    agreement = None
    if len(predicted) == 2:
        a, b = (predicted[ref] for ref in refs)
        agreement = sum(x == y for x, y in zip(a, b, strict=True)) / len(a) if a else 1.0
    return {
        "rows": len(frame),
        "predictions": {ref: dict(Counter(predicted.get(ref, [])).most_common()) for ref in refs},
        "errors": errors,
        "agreement": agreement,
        "features": sorted(features),
    }


def _findings(summary: Mapping[str, Any]) -> list[str]:
    findings = _findings_on(summary["on"]) if summary.get("on") else []
    for name, diff in summary["data"]["diffs"].items():
        for column, item in diff["conformance"].items():
            if item["nonconforming"]:
                findings.append(
                    f"training data {name}: {diff['b']['ref']} has {item['nonconforming']} values "
                    f"of {column!r} that are not {item['expected']}"
                )
    for metric, values in summary["metrics"]["overall"].items():
        if values["delta"] is not None and values["delta"] != 0:
            findings.append(
                f"{metric} {values['a']:.4g} → {values['b']:.4g} ({values['delta']:+.4g})"
            )
    return findings


def _findings_on(on: Mapping[str, Any]) -> list[str]:
    """What the predictions on a dataset and that data's health show."""
    collapsed = []
    for ref, counts in on["predictions"].items():
        label, count = next(iter(counts.items()), ("-", 0))
        share = count / on["rows"] if on["rows"] else 0.0
        if share >= COLLAPSE_SHARE:
            collapsed.append(f"{ref} predicts {label!r} for {share:.0%} of rows")
    findings = collapsed + [
        f"{ref} cannot predict on {on['dataset']}: {error}" for ref, error in on["errors"].items()
    ]
    broken = _broken_features(on["health"]["columns"])
    findings += [
        f"feature column {name!r} is {state} in {on['dataset']}{trained}"
        for name, state, trained in broken
    ]
    findings += [
        f"column {name!r} of {on['dataset']} has {item['nonconforming']} values that are not "
        f"{item['expected']}"
        for name, item in on["health"]["conformance"].items()
        if item["nonconforming"]
    ]
    if len(collapsed) == 2 and broken:
        findings.insert(
            0,
            f"both versions collapse onto one class on {on['dataset']} and "
            f"{len(broken)} feature columns are empty or mostly null there: the input data "
            "source is the likely cause, not the model",
        )
    return findings


def _broken_features(columns: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """Feature columns that are empty, mostly null or constant.

    Returns:
        Name, what is wrong, and how null the training data was (empty text when unknown).
    """
    broken = []
    for name, column in columns.items():
        if not column["feature"] or not (column["mostly_null"] or column["constant"]):
            continue
        if column["empty"]:
            state = "empty"
        elif column["mostly_null"]:
            state = f"null in {column['null_rate']:.0%} of rows"
        else:
            state = "constant"
        trained = column["training_null_rate"]
        before = f" (training data: {trained:.0%} null)" if trained is not None else ""
        broken.append((name, state, before))
    return broken


def compare(
    kit: Kit,
    a: ModelRef | str,
    b: ModelRef | str,
    *,
    on: datasets.DatasetRef | str | None = None,
) -> ModelComparison:
    """Compare versions ``a`` and ``b`` (and, with ``on``, their predictions on that data).

    Raises:
        NotFoundError: a version or the dataset does not exist.
        ConfigError: a version cannot be loaded (no known flavour), or ``on`` lacks feature columns.
        IntegrityError: an artifact is corrupt.
    """
    version_a, version_b = get_version(kit, a), get_version(kit, b)
    summary: dict[str, Any] = {
        "a": version_a.ref,
        "b": version_b.ref,
        "metrics": _metrics(version_a, version_b),
        "params": _pairs(version_a.params, version_b.params, changed_only=False),
        "data": _training_data(kit, version_a, version_b),
        "components": _components(version_a, version_b),
        "on": None,
    }
    if on is not None:
        data_version = datasets.get_version(kit, on)
        result = _predictions(kit, [version_a.ref, version_b.ref], data_version)
        trained_on = version_b.datasets or version_a.datasets
        health = _health(kit, data_version, result.pop("features"), trained_on)
        summary["on"] = {"dataset": data_version.ref, **result, "health": health}
    summary["findings"] = _findings(summary)
    return ModelComparison(summary)


def comparison_page(comparison: ModelComparison) -> Page:
    """A :class:`mlops_kit.reports.Page` showing ``comparison`` (write it with ``.write``)."""
    from mlops_kit.reports import Page

    summary = comparison.summary
    a, b = summary["a"], summary["b"]
    page = Page(f"Model comparison: {a} → {b}")
    page.heading("Findings")
    for finding in comparison.findings or ["No difference found."]:
        page.paragraph(finding)
    on = summary["on"]
    if on:
        page.heading(f"Predictions on {on['dataset']} ({on['rows']} rows)")
        labels = sorted(set(on["predictions"][a]) | set(on["predictions"][b]))
        rows = max(on["rows"], 1)
        page.bars(
            "predicted classes (share of rows)",
            labels,
            {ref: [on["predictions"][ref].get(x, 0) / rows for x in labels] for ref in (a, b)},
        )
        if on["agreement"] is not None:
            page.paragraph(f"The two versions agree on {on['agreement']:.1%} of rows.")
        page.heading(f"Input health of {on['dataset']}")
        columns = on["health"]["columns"]
        page.table(
            [
                "column",
                "feature",
                "type",
                "null rate",
                "training null rate",
                "distinct",
                "bad type",
            ],
            [
                [
                    name,
                    "yes" if c["feature"] else "",
                    c["type"],
                    f"{c['null_rate']:.1%}",
                    "" if c["training_null_rate"] is None else f"{c['training_null_rate']:.1%}",
                    c["distinct"],
                    c["nonconforming"] or "",
                ]
                for name, c in columns.items()
            ],
            flagged=[
                i
                for i, c in enumerate(columns.values())
                if c["mostly_null"] or c["constant"] or c["nonconforming"]
            ],
        )
    page.heading("Metrics")
    overall = summary["metrics"]["overall"]
    page.table(
        ["metric", a, b, "change"],
        [[name, v["a"], v["b"], v["delta"]] for name, v in overall.items()],
    )
    for column, values in summary["metrics"]["slices"].items():
        page.table(
            [column, "metric", a, b, "change"],
            [
                [value, name, v["a"], v["b"], v["delta"]]
                for value, metrics in values.items()
                for name, v in metrics.items()
            ],
        )
    page.heading("Training data")
    page.table(
        ["version", "datasets"],
        [[a, ", ".join(summary["data"]["a"])], [b, ", ".join(summary["data"]["b"])]],
    )
    for name, diff in summary["data"]["diffs"].items():
        rows_change = diff["rows"]
        page.paragraph(
            f"{name}: {diff['a']['ref']} → {diff['b']['ref']}, rows {rows_change['a']} → "
            f"{rows_change['b']}, {sum(1 for c in diff['conformance'].values() if c['nonconforming'])}"
            " columns with values of the wrong type"
        )
    page.heading("Parameters")
    page.table(
        ["parameter", a, b],
        [[k, v["a"], v["b"]] for k, v in summary["params"].items()],
        flagged=[i for i, v in enumerate(summary["params"].values()) if v["a"] != v["b"]],
    )
    page.heading("Components")
    components = {k: v for k, v in summary["components"].items() if k != "packages"}
    packages = summary["components"]["packages"]
    page.table(
        ["component", a, b],
        [[k, v["a"], v["b"]] for k, v in {**components, **packages}.items()],
        flagged=[i for i, v in enumerate({**components, **packages}.values()) if v["a"] != v["b"]],
    )
    return page
