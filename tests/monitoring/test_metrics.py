"""Sliced metrics against scikit-learn, and the confidence intervals' coverage."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_kit.monitoring import metric_table, metrics
from tests.monitoring.conftest import duckdb_sliced_sums


def _run(prediction, score, label, group, task: metric_table.Task, slices: list[str]) -> dict:
    rows = duckdb_sliced_sums(prediction, score, label, group, task, slices)
    return {key: metric_table.finish_metrics(r, task)[1] | {"n": r["n"]} for key, r in rows.items()}


def test_classification_metrics_match_scikit_learn() -> None:
    from sklearn import metrics as sk

    rng = np.random.default_rng(1)
    n = 5000
    y = rng.integers(0, 2, n)
    score = np.clip(y * 0.35 + rng.random(n) * 0.65, 0, 1)
    prediction = (score > 0.5).astype(int)
    group = rng.choice(["a", "b"], n)
    labels: list[int | None] = list(y)
    labels[:100] = [None] * 100  # not labelled yet: left out
    result = _run(prediction, score, labels, group, "classification", ["group"])
    for key, mask in [(("overall", "all"), np.ones(n, bool)), (("group", "a"), group == "a")]:
        mask = mask.copy()
        mask[:100] = False
        got = result[key]
        assert got["n"] == mask.sum()
        assert got["accuracy"].value == pytest.approx(sk.accuracy_score(y[mask], prediction[mask]))
        assert got["precision"].value == pytest.approx(
            sk.precision_score(y[mask], prediction[mask])
        )
        assert got["recall"].value == pytest.approx(sk.recall_score(y[mask], prediction[mask]))
        assert got["f1"].value == pytest.approx(sk.f1_score(y[mask], prediction[mask]))
        assert got["log_loss"].value == pytest.approx(sk.log_loss(y[mask], score[mask]))
        # Scores are rounded to 4 decimals for the rank statistic.
        assert got["roc_auc"].value == pytest.approx(
            sk.roc_auc_score(y[mask], score[mask]), abs=2e-4
        )
        for name in ("accuracy", "precision", "recall", "roc_auc", "log_loss"):
            estimate = got[name]
            assert estimate.lower < estimate.value < estimate.upper


def test_regression_metrics_match_scikit_learn() -> None:
    from sklearn import metrics as sk

    rng = np.random.default_rng(2)
    actual = rng.normal(10, 3, 2000)
    predicted = actual + rng.normal(0, 1, 2000)
    group = rng.choice(["a", "b"], 2000)
    got = _run(predicted, np.full(2000, np.nan), list(actual), group, "regression", ["group"])[
        ("overall", "all")
    ]
    assert got["mae"].value == pytest.approx(sk.mean_absolute_error(actual, predicted))
    assert got["rmse"].value == pytest.approx(np.sqrt(sk.mean_squared_error(actual, predicted)))
    assert got["rmse"].lower < got["rmse"].value < got["rmse"].upper


@pytest.mark.parametrize(("n", "p"), [(100, 0.7), (200, 0.9), (500, 0.5)])
def test_wilson_interval_covers_the_truth_about_95_percent_of_the_time(n: int, p: float) -> None:
    from scipy.stats import binom

    coverage = sum(
        binom.pmf(k, n, p)
        for k in range(n + 1)
        if metric_table.wilson(k, n).lower <= p <= metric_table.wilson(k, n).upper
    )
    assert 0.93 < coverage < 0.97


def test_edge_cases_give_no_value_instead_of_dividing_by_zero() -> None:
    assert metric_table.wilson(0, 0).value is None
    # No success, or nothing but: the bound is exactly 0 or 1, not a rounding error inside it.
    assert [
        (metric_table.wilson(0, n).lower, metric_table.wilson(n, n).upper) for n in (3, 35, 999)
    ] == [(0.0, 1.0)] * 3
    assert metric_table.hanley_mcneil(0, 10, 0).value is None
    assert metric_table.mean_interval(3.0, 9.0, 1) == metric_table.Estimate(3.0)
    one_class = _run([1, 1], [0.9, 0.8], [1, 1], ["a", "a"], "classification", [])
    assert one_class[("overall", "all")]["roc_auc"].value is None
    assert one_class[("overall", "all")]["accuracy"].value == 1.0


def test_duckdb_time_slices_match_the_portable_ones_before_and_after_1970() -> None:
    import duckdb
    import ibis

    rows = ibis.table({"_logged_at": "timestamp('UTC')"}, name="times")
    keys = {
        f"{column}_{form}": metrics.slice_key(rows, column, dialect)
        for column in metrics.TIME_SLICES
        for form, dialect in (("portable", None), ("duckdb", "duckdb"))
    }
    sql = ibis.to_sql(rows.select(**keys), dialect="duckdb")
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        # Steps of a bit over 16 minutes from before 1970, across hour, day and year ends.
        connection.execute(
            "CREATE TABLE times AS SELECT TIMESTAMPTZ '1969-12-25 22:59:59.999999+00' "
            "+ to_microseconds(i * 977777777) AS _logged_at FROM range(3000) r(i)"
        )
        found = connection.execute(sql).fetchall()
    assert len(found) == 3000
    for hour, hour_duckdb, day, day_duckdb in found:
        assert (hour, day) == (hour_duckdb, day_duckdb)
    assert {row[0] for row in found} == {str(h) for h in range(24)}
    assert {row[2] for row in found} == {str(d) for d in range(7)}
