"""Evaluating a tabular binary classifier overall and per slice, in the kit's metrics JSON.

``{"overall": {"accuracy": ..., "f1": ..., "roc_auc": ...}, "slices": {"<column>": {"<value>":
{"accuracy": ..., "count": ...}}}}``: what the register step stores and the gate compares.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from mlops_kit.errors import ConfigError
from mlops_kit.monitoring.metric_table import METRICS
from mlops_kit.monitoring.weak_slices import DEFAULT_MIN_COUNT, WeakSlice, find_weak_slices

if TYPE_CHECKING:
    from mlops_kit.kit import Kit

HOLDOUT_FRACTION: Final = 0.2
HOLDOUT_SEED: Final = 20261
MIN_SLICE_ROWS: Final = 20
"""Smaller slices are reported with their count only: their metrics would be noise."""


def holdout_split(frame: Any, target: str) -> tuple[Any, Any]:
    """Split ``frame`` into training and evaluation rows, the same way in every step.

    Raises:
        ConfigError: the target column is missing.
    """
    from sklearn.model_selection import train_test_split

    _require_columns(frame, [target])
    stratify = frame[target] if frame[target].value_counts().min() >= 2 else None
    train, test = train_test_split(
        frame, test_size=HOLDOUT_FRACTION, random_state=HOLDOUT_SEED, stratify=stratify
    )
    return train, test


def classification_metrics(
    truth: Sequence[Any], predicted: Sequence[Any], score: Any
) -> dict[str, float]:
    """Every classification metric of the kit's table, by its reference implementation.

    The metrics are binary: the positive class (1) against the rest. Those defined only on both
    classes (ROC AUC, log loss) are left out when ``truth`` holds one.

    Args:
        truth: the true labels, 1 for the positive class and 0 for the rest.
        predicted: the predicted labels, 0/1.
        score: the predicted probability of the positive class.
    """
    import numpy as np
    from sklearn import metrics

    truth_array = np.asarray(truth)
    both_classes = len(np.unique(truth_array)) == 2
    inputs = {"predicted": predicted, "score": score}
    return {
        name: float(
            getattr(metrics, metric.reference.function)(
                truth_array, inputs[metric.reference.reads], **metric.reference.options
            )
        )
        for name, metric in METRICS.items()
        if metric.task == "classification" and (both_classes or not metric.reference.both_classes)
    }


def evaluate_classifier(
    model: Any, frame: Any, target: str, slices: Sequence[str] = ()
) -> dict[str, Any]:
    """Metrics of a fitted binary classifier on ``frame``, overall and per value of each slice.

    Raises:
        ConfigError: the target or a slice column is missing.
    """
    _require_columns(frame, [target, *slices])
    features = frame.drop(columns=[target])
    positive = model.classes_[1]
    truth = (frame[target] == positive).astype(int).to_numpy()
    # One pass over the model: for two classes, predict() is the more probable class.
    score = model.predict_proba(features)[:, 1]
    predicted = (score > 0.5).astype(int)
    result: dict[str, Any] = {"overall": classification_metrics(truth, predicted, score)}
    by_slice: dict[str, dict[str, dict[str, float]]] = {}
    for column in slices:
        values: dict[str, dict[str, float]] = {}
        for value, rows in frame.groupby(column, dropna=False, observed=True).indices.items():
            key = (
                "null" if value != value else str(value)
            )  # NaN is the only value unequal to itself
            entry: dict[str, float] = {"count": len(rows)}
            if len(rows) >= MIN_SLICE_ROWS:
                entry |= classification_metrics(truth[rows], predicted[rows], score[rows])
            values[key] = entry
        by_slice[column] = values
    if by_slice:
        result["slices"] = by_slice
    return result


def weak_slices_of(
    model: Any, frame: Any, target: str, *, min_count: int = DEFAULT_MIN_COUNT
) -> list[WeakSlice]:
    """The feature values of ``frame`` where the fitted binary classifier does worst.

    The monitoring report's search (:func:`~mlops_kit.monitoring.weak_slices.find_weak_slices`),
    run on an in-memory DuckDB holding the rows with the model's predictions: numeric and text
    columns are candidates, other types (timestamps) are left out.

    Raises:
        ConfigError: the target column is missing.
    """
    import duckdb
    import ibis
    import numpy as np
    import pyarrow as pa

    _require_columns(frame, [target])
    features = frame.drop(columns=[target])
    score = model.predict_proba(features)[:, 1]
    kinds = {str(name): kind for name, dtype in features.dtypes.items() if (kind := _kind(dtype))}
    # Missing values become nulls (a slice of their own), numbers doubles, the rest text.
    columns = {
        name: pa.array(
            features[name].astype("float64" if kind == "float64" else "string"), from_pandas=True
        )
        for name, kind in kinds.items()
    }
    rows = pa.table(
        {
            **columns,
            "_label": np.where(frame[target] == model.classes_[1], "1", "0"),
            "_prediction": np.where(score > 0.5, "1", "0"),
            "_score": score,
        }
    )
    connection = duckdb.connect()
    try:
        connection.register("held_out", rows)
        return find_weak_slices(
            lambda expr: connection.execute(ibis.to_sql(expr, dialect="duckdb")).to_arrow_table(),
            ibis.table(ibis.Schema.from_pyarrow(rows.schema), name="held_out"),
            kinds,
            "classification",
            "1",
            min_count=min_count,
        )
    finally:
        connection.close()


def _kind(dtype: Any) -> str | None:
    """``float64`` for numbers, ``string`` for text, categories and booleans, else ``None``."""
    code = getattr(dtype, "kind", "")
    if code in ("i", "u", "f"):
        return "float64"
    return "string" if code in ("O", "S", "U", "b") or str(dtype) == "category" else None


def load_classifier(kit: Kit, model_ref: str) -> Any:
    """The scikit-learn classifier of model version ``model_ref`` (with ``predict_proba``).

    Raises:
        NotFoundError: the version does not exist.
        ConfigError: it is not a scikit-learn model.
    """
    from mlops_kit import models
    from mlops_kit.models.flavors import SklearnModel

    loaded = models.load_model(kit, model_ref)
    if not isinstance(loaded, SklearnModel):
        raise ConfigError(
            f"{model_ref} is not a scikit-learn model: the pipeline's evaluation needs a "
            "classifier with predict_proba"
        )
    return loaded.estimator


def _require_columns(frame: Any, columns: Sequence[str]) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ConfigError(
            f"column(s) {', '.join(map(repr, missing))} not in the data "
            f"(columns: {', '.join(map(str, frame.columns))}): fix the project configuration"
        )
