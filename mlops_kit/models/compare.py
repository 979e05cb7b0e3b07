"""Comparing two model versions: lineage side by side and, on a dataset, predictions and input health.

The point is to find where a regression comes from. Metrics, parameters, training data (with the
data-versioning diff of the two training sets) and component versions show what changed between the
versions; ``on=DATASET@V`` runs both models on the same data, checks it against *each* version's
own training data (the data-versioning diff: null rates, emptied and constant columns, values that
do not parse as the training type, drift) and tests each version's predicted classes against its
training data's (see :mod:`mlops_kit.models.diagnosis`). When every version shifts the same way
while input columns break, the first finding says so: the data source changed, not the model.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_kit import data as datasets
from mlops_kit.errors import first_line
from mlops_kit.findings import Finding
from mlops_kit.kit import Kit
from mlops_kit.models.diagnosis import (
    ClassShift,
    class_shift,
    comparison_findings,
    input_findings,
)
from mlops_kit.models.loading import load_model
from mlops_kit.models.lookup import get_version
from mlops_kit.models.names import ModelRef
from mlops_kit.models.versions import ModelVersion
from mlops_kit.progress import NO_PROGRESS, Progress, Stages

if TYPE_CHECKING:
    from mlops_kit.reports import Page

MOSTLY_NULL = 0.5
"""A feature column null in at least this share of rows is reported as mostly null."""
REFERENCE_SAMPLE = 5000
"""Rows of a version's training data it predicts on when that data holds no label column."""


@dataclass
class ModelComparison:
    """The comparison of two versions.

    Attributes:
        summary: JSON-able result with keys ``a``, ``b`` (refs), ``metrics`` (``overall`` and
            ``slices``: per metric ``{"a", "b", "delta"}``), ``params`` and ``components`` (per key
            ``{"a", "b"}``, differences only for packages), ``data`` (``a``, ``b`` and ``diffs``: the
            data-versioning diff summary per dataset trained on in two versions), ``on`` (with
            ``on``: ``dataset``, ``rows``, ``predictions`` per version as class → count, ``errors``
            of versions that could not predict, ``agreement``, ``health`` of the data itself,
            ``inputs``: per version its ``training_data`` and the null rates of its columns there,
            and ``shifts``: per version how its predicted classes moved from its training data's).
        findings: what the comparison found, ranked (see :mod:`mlops_kit.models.diagnosis`).
    """

    summary: dict[str, Any]
    findings: list[Finding]


def _side_by_side(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, dict[str, Any]]:
    result = {}
    for name in sorted(set(a) | set(b)):
        va, vb = a.get(name), b.get(name)
        # A value the registry holds from before metrics were checked may be NaN or infinite:
        # it is shown as stored, with no change computed from it.
        delta = None
        if va is not None and vb is not None and math.isfinite(va) and math.isfinite(vb):
            delta = vb - va
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


def _training_data(
    kit: Kit, a: ModelVersion, b: ModelVersion
) -> tuple[dict[str, Any], list[Finding]]:
    """Both versions' training data; the diff and findings of a dataset they both trained on."""
    by_name_a = {ref.partition("@")[0]: ref for ref in a.datasets}
    by_name_b = {ref.partition("@")[0]: ref for ref in b.datasets}
    diffs = {
        name: datasets.diff(kit, by_name_a[name], by_name_b[name])
        for name in sorted(set(by_name_a) & set(by_name_b))
        if by_name_a[name] != by_name_b[name]
    }
    found = [finding for diff in diffs.values() for finding in diff.findings]
    summary = {
        "a": a.datasets,
        "b": b.datasets,
        "diffs": {name: diff.summary for name, diff in diffs.items()},
    }
    return summary, found


def _health(kit: Kit, on: datasets.DatasetVersion, features: Sequence[str]) -> dict[str, Any]:
    """Null, constant and empty columns of ``on`` itself (against no model's training data)."""
    profile = datasets.profile(kit, on.ref)
    columns: dict[str, Any] = {}
    for name, column in profile["columns"].items():
        null_rate = float(column["null_rate"])
        columns[name] = {
            "feature": name in features,
            "type": column["type"],
            "null_rate": null_rate,
            "distinct": column["distinct"],
            "empty": null_rate >= 1.0,
            "mostly_null": null_rate >= MOSTLY_NULL,
            "constant": null_rate < 1.0 and column["distinct"] <= 1,
        }
    return {"rows": profile["row_count"], "columns": columns}


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


def _reference_classes(
    kit: Kit, ref: str, trained_on: str, features: Sequence[str], classes: Sequence[str]
) -> tuple[str, dict[str, int]]:
    """What ``ref``'s predicted classes are compared with, in words, and its class counts.

    The labels of its training data: the first non-feature column whose values hold every
    predicted class. Without one, its own predictions on a sample of that data.
    """
    profile = datasets.profile(kit, trained_on)
    for name, column in profile["columns"].items():
        if name in features or column["kind"] != "categorical" or column.get("other"):
            continue
        counts = {str(value): int(count) for value, count in column.get("top", [])}
        if set(classes) <= set(counts):
            return f"the labels ({name}) of {trained_on}", counts
    frame = datasets.load(kit, trained_on, as_="pandas")
    if len(frame) > REFERENCE_SAMPLE:
        frame = frame.sample(REFERENCE_SAMPLE, random_state=0)
    predicted = Counter(str(label) for label in load_model(kit, ref).predict(frame))
    return f"its own predictions on {trained_on}", dict(predicted)


def _inputs(
    kit: Kit,
    version: ModelVersion,
    on: datasets.DatasetVersion,
    predicted: Mapping[str, Any],
) -> tuple[dict[str, Any], list[Finding], ClassShift | None]:
    """``on`` against ``version``'s own training data.

    Returns:
        Its columns there, the diff's findings on the feature columns, and the shift of its
        predicted classes from its training data's.
    """
    if not version.datasets:
        return {"training_data": None, "columns": {}}, [], None
    trained_on = version.datasets[0]
    features = predicted["features"]
    diff = datasets.diff(kit, trained_on, on.ref)
    on_features = [f for f in diff.findings if set(f.evidence.get("columns", [])) & set(features)]
    section = {
        "training_data": trained_on,
        "columns": {
            name: {"null_rate": column["a"]["null_rate"], "distinct": column["a"]["distinct"]}
            for name, column in diff.summary["columns"].items()
        },
    }
    shift = None
    counts = predicted["predictions"][version.ref]
    if version.ref not in predicted["errors"] and counts:
        reference, before = _reference_classes(kit, version.ref, trained_on, features, list(counts))
        shift = class_shift(version.ref, reference, before, counts)
    return section, input_findings(version.ref, trained_on, on_features), shift


def compare(
    kit: Kit,
    a: ModelRef | str,
    b: ModelRef | str,
    *,
    on: datasets.DatasetRef | str | None = None,
    progress: Progress = NO_PROGRESS,
) -> ModelComparison:
    """Compare versions ``a`` and ``b`` (and, with ``on``, their predictions on that data).

    ``progress`` is told its stages: the versions' records, then with ``on`` the predictions of
    both, their inputs and the data's health.

    Raises:
        NotFoundError: a version or the dataset does not exist.
        ConfigError: a version cannot be loaded (no known flavour), or ``on`` lacks feature columns.
        IntegrityError: an artifact is corrupt.
    """
    version_a, version_b = get_version(kit, a), get_version(kit, b)
    stages = Stages(progress, 1 if on is None else 4)
    stages.start(f"comparing the metrics, params and data of {version_a.ref} and {version_b.ref}")
    training, training_findings = _training_data(kit, version_a, version_b)
    summary: dict[str, Any] = {
        "a": version_a.ref,
        "b": version_b.ref,
        "metrics": _metrics(version_a, version_b),
        "params": _pairs(version_a.params, version_b.params, changed_only=False),
        "data": training,
        "components": _components(version_a, version_b),
        "on": None,
    }
    diagnosed = None
    if on is not None:
        data_version = datasets.get_version(kit, on)
        stages.start(f"predicting {data_version.row_count:,} rows of {data_version.ref} with both")
        predicted = _predictions(kit, [version_a.ref, version_b.ref], data_version)
        inputs, per_version, shifts = {}, {}, []
        stages.start("comparing the inputs with each version's training data")
        for version in (version_a, version_b):
            section, found, shift = _inputs(kit, version, data_version, predicted)
            inputs[version.ref], per_version[version.ref] = section, found
            shifts += [shift] if shift else []
        stages.start(f"checking the health of {data_version.ref}")
        health = _health(kit, data_version, predicted.pop("features"))
        summary["on"] = {
            "dataset": data_version.ref,
            **predicted,
            "health": health,
            "inputs": inputs,
            "shifts": [shift.to_dict() for shift in shifts],
        }
        diagnosed = summary["on"] | {"shifts": shifts, "input_findings": per_version}
    findings = comparison_findings(diagnosed, training_findings, summary["metrics"]["overall"])
    return ModelComparison(summary, findings)


def input_health(summary: Mapping[str, Any]) -> tuple[str, list[str], list[list[Any]]]:
    """The null rates of a comparison's feature columns: a title, headers and rows.

    One row per feature column: its null rate in the data and in each version's own training data,
    each header naming that dataset and whose training data it is.
    """
    on = summary["on"]
    inputs = on["inputs"]
    refs = [summary["a"], summary["b"]]
    headers = ["feature", on["dataset"]]
    headers += [f"{inputs[ref]['training_data'] or '(unknown)'} ({ref})" for ref in refs]
    rows = []
    for name, column in on["health"]["columns"].items():
        if column["feature"]:
            trained = [inputs[ref]["columns"].get(name, {}).get("null_rate") for ref in refs]
            rows.append(
                [
                    name,
                    f"{column['null_rate']:.1%}",
                    *("" if rate is None else f"{rate:.1%}" for rate in trained),
                ]
            )
    title = f"null rate of the inputs: in {on['dataset']}, and in each version's own training data"
    return title, headers, rows


def comparison_page(comparison: ModelComparison) -> Page:
    """A :class:`mlops_kit.reports.Page` showing ``comparison`` (write it with ``.write``)."""
    from mlops_kit.reports import Page

    summary = comparison.summary
    a, b = summary["a"], summary["b"]
    page = Page(f"Model comparison: {a} → {b}")
    page.findings(comparison.findings)
    on = summary["on"]
    if on:
        page.heading(f"Predictions on {on['dataset']} ({on['rows']} rows)")
        labels = sorted(set(on["predictions"][a]) | set(on["predictions"][b]))
        rows = max(on["rows"], 1)
        page.bars(
            "predicted classes",
            labels,
            {ref: [on["predictions"][ref].get(x, 0) / rows for x in labels] for ref in (a, b)},
        )
        for shift in on["shifts"]:
            page.paragraph(
                f"{shift['version']} against {shift['reference']}: total variation "
                f"{shift['total_variation']:.3f}, chi-square p {shift['pvalue']:.2g}"
                + (" (shifted)" if shift["shifted"] else ""),
                note=True,
            )
        if on["agreement"] is not None:
            page.paragraph(f"The two versions agree on {on['agreement']:.1%} of rows.")
        page.heading(f"Input health of {on['dataset']}")
        title, columns, rows_shown = input_health(summary)
        page.paragraph(title)
        page.table(columns, rows_shown)
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
