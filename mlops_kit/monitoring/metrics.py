"""Sliced model metrics computed in the warehouse, with 95 % confidence intervals.

The metrics are ibis expressions over the prediction log joined to the ground truth, so one
expression compiles to DuckDB (the local twin) and to BigQuery. The warehouse returns a handful of
sums per slice; each metric of :data:`~mlops_kit.monitoring.metric_table.METRICS` is finished from
those sums, with its interval (Hanley–McNeil for ROC AUC over scores rounded to 4 decimals, pairs
within one rounding step counting as ties, an error below 1e-4 for spread scores).

Classification metrics are binary: the positive label against every other label.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from mlops_kit.monitoring.metric_table import Estimate, Task
from mlops_kit.monitoring.schema import GROUND_TRUTH, PREDICTION_LOG

HOUR_OF_DAY: Final = "hour_of_day"
DAY_OF_WEEK: Final = "day_of_week"
TIME_SLICES: Final = (HOUR_OF_DAY, DAY_OF_WEEK)
OVERALL: Final = "overall"
"""The slice column name of the whole window (its value is ``all``)."""
SCORE_BIN: Final = "_score_bin"
"""The slice column of :func:`sliced_sums`' rows per score bin of the labelled predictions."""

_EPSILON: Final = 1e-15
_AUC_DECIMALS: Final = 4


@dataclass
class SliceMetrics:
    """The metrics of one slice (``column=value``) of the predictions.

    ``count`` predictions have ground truth yet, of ``logged``; :attr:`metrics` read those.
    :attr:`estimated` reads the scores of every prediction, labelled or not.
    """

    column: str
    value: str
    count: int
    metrics: dict[str, Estimate]
    baseline: dict[str, float] = field(default_factory=dict)
    """The registry's evaluation metrics for the same slice, when the model version has them."""
    logged: int = 0
    """Predictions logged in the slice, labelled or not."""
    estimated: dict[str, Estimate] = field(default_factory=dict)
    """The metrics estimated from the scores, by the name of the metric they estimate."""

    @property
    def label_share(self) -> float:
        """The share of the slice's predictions with ground truth (0 when none was logged)."""
        return self.count / self.logged if self.logged else 0.0

    def awaits_labels(self, min_label_share: float) -> bool:
        """Whether too few of the predictions have ground truth to judge the metrics."""
        return self.label_share < min_label_share

    def to_dict(self, min_label_share: float = 0.0) -> dict[str, Any]:
        """The slice as JSON-able data (``pending``: below ``min_label_share`` labelled)."""
        return {
            "column": self.column,
            "value": self.value,
            "count": self.count,
            "logged": self.logged,
            "labelled_share": self.label_share,
            "pending": self.awaits_labels(min_label_share),
            "metrics": {name: estimate.to_dict() for name, estimate in self.metrics.items()},
            "estimated": {name: estimate.to_dict() for name, estimate in self.estimated.items()},
            "baseline": self.baseline,
        }


def prediction_log_table(database: tuple[str, str] | None = None) -> ir.Table:
    """The unbound prediction log (``database`` = ``(project, dataset)`` on BigQuery)."""
    return _unbound(PREDICTION_LOG.name, PREDICTION_LOG.ibis_schema(), database)


def ground_truth_table(database: tuple[str, str] | None = None) -> ir.Table:
    """The unbound ground-truth table."""
    return _unbound(GROUND_TRUTH.name, GROUND_TRUTH.ibis_schema(), database)


def _unbound(name: str, schema: dict[str, str], database: tuple[str, str] | None) -> ir.Table:
    if database is None:
        return ibis.table(schema, name=name)
    return ibis.table(schema, name=name, catalog=database[0], database=database[1])


def logged_predictions(
    log: ir.Table, model_name: str, model_version: int, start: datetime, end: datetime
) -> ir.Table:
    """The predictions of one model version logged in ``[start, end)``."""
    return log.filter(
        log.model_name == model_name,
        log.model_version == model_version,
        log.logged_at >= start,
        log.logged_at < end,
    )


@ibis.udf.scalar.builtin(name="json_extract_string")  # type: ignore[untyped-decorator]
def _duckdb_json_texts(document: dt.JSON, paths: dt.Array[dt.String]) -> dt.Array[dt.String]:
    """DuckDB: several JSON scalars as text from one parse of the document."""


@ibis.udf.scalar.builtin(name="JSON_VALUE")  # type: ignore[untyped-decorator]
def _bigquery_json_text(document: dt.JSON, path: str) -> str:  # type: ignore[empty-body]
    """BigQuery: a JSON scalar as text (strings unquoted, numbers as written)."""


@ibis.udf.agg.builtin(name="max_by")  # type: ignore[untyped-decorator]
def _latest(value: str, at: dt.Timestamp(timezone="UTC")) -> str:  # type: ignore[empty-body,valid-type]
    """The value at the latest time: ``MAX_BY`` on BigQuery, ``arg_max`` on DuckDB.

    ibis's own ``argmax`` becomes an ordered ``FIRST`` aggregate on DuckDB, which buffers and
    sorts every group's values; ``arg_max`` keeps one value per group.
    """


def _feature_columns(
    table: ir.Table, names: Sequence[str], dialect: str
) -> tuple[ir.Table, dict[str, ir.Value]]:
    """``table`` (maybe with a helper column) and the value of each feature of its ``features``.

    The local twin stores the features as a STRUCT of typed fields (``float64`` or ``string``): they
    are read as they are. A JSON document gives each key's text. ibis's own JSON accessors test
    each value's JSON type first. BigQuery stores JSON parsed, so one ``JSON_VALUE`` per key is
    cheap there; JSON text on DuckDB is parsed once per row for all keys (``json_extract_string``
    with a list of paths).
    """
    if table.features.type().is_struct():
        return table, {name: table.features[name] for name in names}
    paths = ["$." + name for name in names]
    if dialect == "bigquery":
        return table, {
            name: _bigquery_json_text(table.features, path)
            for name, path in zip(names, paths, strict=True)
        }
    table = table.mutate(_features=_duckdb_json_texts(table.features, paths))
    return table, {name: table._features[index] for index, name in enumerate(names)}


def unparsed(name: str) -> str:
    """The column of :func:`live_rows` holding feature ``name``'s values that are not numbers."""
    return f"{name}:unparsed"


def live_rows(
    predictions: ir.Table, truth: ir.Table | None, features: Mapping[str, str], dialect: str
) -> ir.Table:
    """One row per prediction: time, prediction, score, latest label (or NULL) and the features.

    Args:
        predictions: the logged predictions to report on.
        truth: the ground truth, or ``None`` before the first label.
        features: feature name → ``float64`` (numeric) or ``string``.
        dialect: the warehouse's SQL dialect.

    Returns:
        Columns ``_logged_at``, ``_prediction``, ``_score``, ``_label``, one per feature (numbers
        as ``float64``), and for each numeric feature logged as text :func:`unparsed` holding the
        logged text only where it is not a number (mostly NULL, cheap to store and scan).
    """
    if truth is None:
        joined = predictions.mutate(label=ibis.null("string"))
    else:
        latest = truth.group_by("request_id").agg(label=_latest(truth.label, truth.logged_at))
        joined = predictions.left_join(latest, "request_id")
    values: dict[str, ir.Value] = {}
    # Reading no feature needs no parse of the features (the calibration's history).
    joined, logged = _feature_columns(joined, list(features), dialect) if features else (joined, {})
    for name, kind in features.items():
        value = logged[name]
        if kind == "string":
            values[name] = value if value.type().is_string() else value.cast("string")
        elif value.type().is_numeric():
            values[name] = value.cast("float64")
        else:
            number = value.try_cast("float64")
            values[name] = number
            values[unparsed(name)] = ibis.ifelse(
                value.notnull() & number.isnull(), value, ibis.null("string")
            )
    return joined.select(
        _logged_at=joined.logged_at,
        _prediction=joined.prediction,
        _score=joined.score,
        _label=joined.label,
        **values,
    )


def slice_text(value: ir.Value) -> ir.StringValue:
    """A slice value as text; numbers as ``float64`` text so logs and training data agree."""
    if value.type().is_numeric():
        value = value.cast("float64")
    return value.cast("string").fill_null("(null)")


@ibis.udf.scalar.builtin(name="epoch_us")  # type: ignore[untyped-decorator]
def _duckdb_micros(at: dt.Timestamp(timezone="UTC")) -> dt.int64:  # type: ignore[valid-type]
    """DuckDB: microseconds since 1970-01-01 UTC of a time (UTC when it has no time zone)."""


_DAY_US: Final = 86_400_000_000
_HOUR_US: Final = 3_600_000_000
_THURSDAY: Final = 3
"""The weekday of 1970-01-01 (Monday = 0)."""


def _time_key(at: ir.TimestampValue, column: str, dialect: str | None) -> ir.IntegerValue:
    """The hour of the day or the day of the week (Monday = 0) of ``at`` in UTC.

    DuckDB's own calendar parts of a time with a time zone go through the time zone library,
    several times slower than whole-number arithmetic on the microseconds since 1970; the
    remainders are taken non-negative, so times before 1970 fall in their hour and day too.
    """
    if dialect != "duckdb":
        return at.hour() if column == HOUR_OF_DAY else at.day_of_week.index()
    micros = _duckdb_micros(at)
    in_day = (micros % _DAY_US + _DAY_US) % _DAY_US
    if column == HOUR_OF_DAY:
        return in_day // _HOUR_US
    days = (micros - in_day) // _DAY_US
    return ((days + _THURSDAY) % 7 + 7) % 7


def _slice_group(table: ir.Table, column: str, dialect: str | None) -> ir.Value:
    """What rows are grouped by for slice ``column``: :func:`slice_key` before its cast to text.

    A time slice stays a small whole number until its groups are formed: cheaper to group by and
    to hold than its text, which is the same for every row of a group.
    """
    if column in TIME_SLICES:
        return _time_key(table._logged_at, column, dialect).cast("int8")
    return slice_text(table[column])


def slice_key(table: ir.Table, column: str, dialect: str | None = None) -> ir.StringValue:
    """The slice value of each row of a :func:`live_rows` relation for slice ``column``.

    ``hour_of_day`` is 0-23 and ``day_of_week`` 0-6 (Monday = 0) of the logging time in UTC; any
    other slice is a feature's value as text (``(null)`` when missing). ``dialect``, the
    warehouse's when known, may choose a cheaper form of the same value.
    """
    return _slice_group(table, column, dialect).cast("string")


def _per_row(rows: ir.Table, task: Task, positive: str) -> dict[str, ir.Value]:
    """What the sums read of each prediction: small numbers instead of its label and prediction.

    Every part of :func:`sliced_sums` reads one relation of these, which DuckDB holds in memory
    while it computes them: two 1-byte flags and a number take less than two texts. A
    classification's ``_pos`` (the label is the positive class) and ``_correct`` (it is the
    prediction) are NULL until the label arrives, and ``_said`` tells a prediction of the
    positive class; a regression's ``_error`` is the absolute error of a labelled prediction.
    """
    if task == "regression":
        error = rows._prediction.try_cast("float64") - rows._label.try_cast("float64")
        return {"_error": error.abs()}
    return {
        "_score": rows._score,
        "_pos": (rows._label == positive).cast("int8"),
        "_said": (rows._prediction == positive).cast("int8"),
        "_correct": (rows._label == rows._prediction).cast("int8"),
    }


def _cells(rows: ir.Table, keys: Sequence[str], task: Task, score_bins: bool) -> ir.Table:
    """Additive sums per combination of the slice keys: one pass for the sums of every slice.

    ``rows`` hold the keys and :func:`_per_row`'s values. Every logged prediction is counted
    (``logged``); the metrics' sums read the labelled ones only (a NULL flag, which a sum skips).
    A classification adds the sums of the estimate from the scores (see
    :mod:`mlops_kit.monitoring.estimation`), which read every scored prediction, labelled or
    not; with ``score_bins``, the sum of the labelled predictions' scores too.
    """
    t = rows
    if task == "regression":
        return t.group_by(list(keys)).aggregate(
            logged=t.count(),
            n=t._error.count(),
            abs_sum=t._error.sum(),
            sq_sum=(t._error * t._error).sum(),
            sq_sq_sum=(t._error * t._error * t._error * t._error).sum(),
        )
    is_pos, said_pos = t._pos, t._said
    p = t._score.clip(lower=_EPSILON, upper=1 - _EPSILON)
    loss = -(is_pos.cast("float64") * p.ln() + (1 - is_pos).cast("float64") * (1 - p).ln())
    # The estimate reads the score as the probability of the positive class.
    s = t._score.clip(lower=0.0, upper=1.0)
    labelled_scores = (
        {"label_score_sum": ibis.ifelse(is_pos.notnull(), s, ibis.null("float64")).sum()}
        if score_bins
        else {}
    )
    return t.group_by(list(keys)).aggregate(
        logged=t.count(),
        n=is_pos.count(),
        correct=t._correct.sum(),
        tp=(is_pos * said_pos).sum(),
        said_pos=ibis.ifelse(is_pos.notnull(), said_pos, 0).sum(),
        actual_pos=is_pos.sum(),
        scored=loss.count(),
        loss_sum=loss.sum(),
        loss_sq_sum=(loss * loss).sum(),
        est_n=s.count(),
        est_said=ibis.ifelse(s.notnull(), said_pos, 0).sum(),
        est_tp=(said_pos * s).sum(),
        est_pos=s.sum(),
        est_var_said=(said_pos * s * (1 - s)).sum(),
        est_var=(s * (1 - s)).sum(),
        **labelled_scores,
    )


def _score_histogram(rows: ir.Table, key: str) -> ir.Table:
    """Per slice value and score rounded to :data:`_AUC_DECIMALS` decimals: the sums of ROC AUC.

    ``pos`` labelled positives of ``labelled`` predictions, ``epos`` the sum of the scores (the
    expected positives) of ``scored``; the negatives, realised and expected, are what the
    positives leave.
    """
    t = rows
    # Grouped straight from ``rows``, the rows without a score dropped as their group: a
    # filtered or derived relation would be the same for every slice, and DuckDB materialises a
    # relation that several parts of a query read (a copy of every row).
    histogram = t.group_by([key, t._score.round(_AUC_DECIMALS).name("_s")]).aggregate(
        # Counts as doubles (exact below 2**53): sums of integers are 128-bit decimals on
        # DuckDB, slow in the window and the products below.
        pos=t._pos.fill_null(0).sum().cast("float64"),
        labelled=t._pos.count().cast("float64"),
        epos=t._score.clip(lower=0.0, upper=1.0).sum(),
        scored=t.count().cast("float64"),
    )
    return histogram.filter(histogram._s.notnull())


def _auc_sums(by_score: ir.Table, key: str) -> ir.Table:
    """Per slice: the rank sums of ROC AUC, realised (labels) and expected (scores).

    ``by_score`` is a :func:`_score_histogram`: bins 1e-4 wide, pairs within one bin counting
    half. Realised, the bins hold labelled positives and negatives; expected, every scored
    prediction adds its score to the positives and its complement to the negatives (CBPE's
    ROC AUC).
    """
    by_score = by_score.mutate(
        neg=by_score.labelled - by_score.pos, eneg=by_score.scored - by_score.epos
    )
    by_score = by_score.mutate(
        _below=by_score.neg.cumsum(group_by=key, order_by="_s") - by_score.neg,
        _ebelow=by_score.eneg.cumsum(group_by=key, order_by="_s") - by_score.eneg,
    )
    return by_score.group_by(_key=by_score[key]).aggregate(
        auc_num=(by_score.pos * (by_score._below + 0.5 * by_score.neg)).sum(),
        auc_pos=by_score.pos.sum(),
        auc_neg=by_score.neg.sum(),
        est_auc_num=(by_score.epos * (by_score._ebelow + 0.5 * by_score.eneg)).sum(),
        est_auc_pos=by_score.epos.sum(),
        est_auc_neg=by_score.eneg.sum(),
    )


def _histograms(rows: ir.Table, keys: Sequence[str]) -> dict[str, ir.Table]:
    """The :func:`_score_histogram` of each slice key (the first is the whole window's).

    The whole window's histogram adds up another slice's: a pass over fewer rows than the
    predictions. Per slice, the (slice, score) groups are about as many as the rows, so
    combining the keys of all slices first would not make them fewer.
    """
    found = {key: _score_histogram(rows, key) for key in keys[1:]}
    if not found:
        return {keys[0]: _score_histogram(rows, keys[0])}
    detailed = found[keys[1]]
    overall = detailed.group_by("_s").aggregate(
        **{name: detailed[name].sum() for name in ("pos", "labelled", "epos", "scored")}
    )
    return {keys[0]: overall.mutate(**{keys[0]: ibis.literal("all")}), **found}


def sliced_sums(
    live: ir.Table,
    slices: Sequence[str],
    task: Task,
    positive_label: str,
    score_bin: Callable[[ir.NumericValue], ir.IntegerValue] | None = None,
    dialect: str | None = None,
) -> ir.Table:
    """One row of sufficient statistics per slice value (plus the ``overall`` row).

    The sums are computed once, grouped by every slice key together (see :func:`_cells`), and
    each slice sums those cells; ROC AUC groups each slice's rows by score.

    Args:
        live: a :func:`live_rows` relation; rows without a label yet are counted as logged,
            and read by the estimate, not by the metrics.
        slices: slice columns.
        task: classification or regression.
        positive_label: the positive class of a classification.
        score_bin: a classification's bin of a score: the same cells then give one row per bin
            of the scored predictions too (slice column :data:`SCORE_BIN`, no ROC AUC), whose
            labelled ones count ``scored``, of which ``actual_pos`` are positive, with the sum
            of their scores ``label_score_sum``.
        dialect: the warehouse's SQL dialect, when known (see :func:`slice_key`).

    Returns:
        Columns ``slice_column``, ``slice_value``, ``logged`` (predictions) and the sums
        :func:`~mlops_kit.monitoring.metric_table.finish_metrics` and
        :func:`~mlops_kit.monitoring.estimation.finish_estimates` read.
    """
    columns = [OVERALL, *dict.fromkeys(slices)]
    keys = {
        f"_key{i}": (
            ibis.literal("all") if column == OVERALL else _slice_group(live, column, dialect)
        )
        for i, column in enumerate(columns)
    }
    score_bin = score_bin if task == "classification" else None
    bins = {} if score_bin is None else {"_bin": score_bin(live._score)}
    # Only what the sums read: DuckDB holds in memory the relation the parts of the query share.
    rows = live.select(**keys, **bins, **_per_row(live, task, positive_label))
    cells = _cells(rows, [*keys, *bins], task, bool(bins))
    sums_of = [name for name in cells.columns if name not in keys and name not in bins]

    def summed(cells: ir.Table, key: ir.Value) -> ir.Table:
        # As doubles: a sum of integers is a 128-bit integer on DuckDB, which Arrow returns as
        # a decimal.
        return cells.group_by(_key=key).aggregate(
            **{name: cells[name].sum().cast("float64") for name in sums_of}
        )

    histograms = _histograms(rows, list(keys)) if task == "classification" else {}
    parts = []
    for column, key in zip(columns, keys, strict=True):
        sums = summed(cells, cells[key])
        if key in histograms:
            auc = _auc_sums(histograms[key], key)
            sums = sums.left_join(auc, "_key").drop("_key_right")
        parts.append(
            sums.mutate(
                slice_column=ibis.literal(column), slice_value=sums._key.cast("string")
            ).drop("_key")
        )
    if bins:
        scored = cells.filter(cells._bin.notnull())
        sums = summed(scored, scored._bin.cast("string"))
        sums = sums.mutate(slice_column=ibis.literal(SCORE_BIN), slice_value=sums._key)
        schema = parts[0].schema()
        # The bins have no ROC AUC: its sums are NULL there.
        parts.append(
            sums.select(
                *[
                    sums[name] if name in sums.columns else ibis.null(schema[name]).name(name)
                    for name in schema
                ]
            )
        )
    return ibis.union(*parts) if len(parts) > 1 else parts[0]
