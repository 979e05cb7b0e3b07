"""Weak slices found by search: the same search on logged predictions and on held-out rows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlops_kit.monitoring.weak_slices import find_weak_slices
from tests.monitoring.conftest import DAY_HOURS, END, purchases

NIGHT = [h for h in range(24) if h not in DAY_HOURS]
HOSTILE = "x'); DROP TABLE held_out; --<b>"


def _planted(n: int = 6000) -> pd.DataFrame:
    """Rows where tablets, the dearest tenth and one hostile category are predicted badly."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "device": rng.choice(
                ["mobile", "desktop", "tablet", HOSTILE], n, p=[0.4, 0.4, 0.1, 0.1]
            ),
            "price": rng.uniform(0, 100, n),
            "visits": rng.integers(0, 5, n).astype(float),  # few values: sliced by value
        }
    )
    bad = frame["device"].isin(["tablet", HOSTILE]) | (frame["price"] > 90)
    label = rng.integers(0, 2, n)
    right = rng.random(n) < np.where(bad, 0.55, 0.9)
    frame["_label"] = label.astype(str)
    frame["_prediction"] = np.where(right, label, 1 - label).astype(str)
    frame["_score"] = rng.random(n)
    return frame


def _search(frame: pd.DataFrame, **options):
    rows = pa.Table.from_pandas(frame, preserve_index=False)
    con = duckdb.connect()
    con.register("held_out", rows)
    return find_weak_slices(
        lambda expr: con.execute(ibis.to_sql(expr, dialect="duckdb")).to_arrow_table(),
        ibis.table(ibis.Schema.from_pyarrow(rows.schema), name="held_out"),
        {"device": "string", "price": "float64", "visits": "float64"},
        "classification",
        "1",
        **options,
    )


def test_the_search_finds_the_planted_weak_values_and_no_others() -> None:
    frame = _planted()
    found = {w.subject: w for w in _search(frame)}
    dearest = [s for s in found if s.startswith("price=")]
    assert set(found) == {"device=tablet", f"device={HOSTILE}", *dearest}
    # The dearest decile, named by its range.
    (decile,) = dearest
    low, high = (float(x) for x in decile.removeprefix("price=").split(" – "))
    assert 89 < low < 91 and high == pytest.approx(frame["price"].max(), abs=1e-3)
    # The numbers are the rows' own (a pandas reference), the interval excludes the overall.
    right = frame["_label"] == frame["_prediction"]
    tablet = found["device=tablet"]
    assert tablet.count == (frame["device"] == "tablet").sum()
    assert tablet.estimate.value == pytest.approx(right[frame["device"] == "tablet"].mean())
    assert tablet.overall == pytest.approx(right.mean())
    assert all(w.estimate.upper < w.overall for w in found.values())
    assert decile in str(found[decile]) and "overall" in str(found[decile])


def test_slices_below_the_minimum_count_are_not_listed() -> None:
    frame = _planted()
    tablets = int((frame["device"] == "tablet").sum())
    found = _search(frame, min_count=tablets + 1)
    assert "device=tablet" not in [w.subject for w in found]
    assert all(w.count > tablets for w in found)


def test_a_model_that_does_well_everywhere_has_no_weak_slice() -> None:
    frame = _planted()
    frame["_prediction"] = frame["_label"]
    assert _search(frame) == []


def test_the_report_finds_the_night_hours_of_the_purchase_story(local_kit, purchase_story) -> None:
    from mlops_kit.monitoring import WatchedModel, Window, build_report
    from mlops_kit.monitoring.diagnosis import report_findings
    from mlops_kit.monitoring.report import search_weak_slices

    model = WatchedModel("purchase", 1, training_location=str(purchase_story.training_path))
    report = build_report(local_kit, model, slices=["device"], window=Window.last("7d", END))
    assert report.weak_slices is None  # not searched unless asked
    weak = search_weak_slices(local_kit, report, 50)
    assert weak is report.weak_slices and weak
    # Only hour_of_day was never named as a slice: the search found it.
    # The night shoppers browse mid-priced items: the worst slices are night hours and the
    # deciles of price the night fills, and nothing else.
    hours = [int(w.value) for w in weak if w.column == "hour_of_day"]
    assert set(hours) <= set(NIGHT) and len(hours) >= 3
    prices = [w.value.split(" – ") for w in weak if w.column == "price"]
    assert prices and all(46 <= float(low) < float(high) <= 54 for low, high in prices)
    assert len(hours) + len(prices) == len(weak)
    assert all(w.estimate.upper < w.overall for w in weak)
    assert report.to_dict()["weak_slices"][0]["message"] == str(weak[0])
    finding = next(f for f in report_findings(report) if "the search found" in f.statement)
    assert finding.evidence["slices"] == [w.subject for w in weak]
    # Sliced by hour already, the night hours are named by the coverage finding: the search
    # adds a finding for the mid-priced items only, never repeating the hours.
    by_hour = build_report(local_kit, model, slices=["hour_of_day"], window=Window.last("7d", END))
    assert {w.subject for w in search_weak_slices(local_kit, by_hour, 50)} >= {
        w.subject for w in weak if w.column == "hour_of_day"
    }
    (searched,) = [f for f in report_findings(by_hour) if "the search found" in f.statement]
    assert searched.evidence["slices"] and all(
        subject.startswith("price=") for subject in searched.evidence["slices"]
    )


def _hourly(rng: np.random.Generator, n: int) -> pd.DataFrame:
    stamps = [END - timedelta(minutes=int(m)) for m in rng.integers(0, 30 * 24 * 60, n)]
    frame = purchases(rng, stamps)
    frame["hour_of_day"] = frame.pop("event_time").dt.hour
    return frame


def test_the_gate_runs_the_same_search_on_the_held_out_rows(local_kit, tmp_path: Path) -> None:
    import joblib
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from mlops_kit.data import snapshot
    from mlops_kit.models import Lineage, register
    from mlops_kit.pipelines.evaluation import holdout_split, weak_slices_of
    from mlops_kit.pipelines.promotion import gate_candidate

    rng = np.random.default_rng(9)
    frame = _hourly(rng, 4000)
    path = tmp_path / "purchases.parquet"
    frame.to_parquet(path)
    day = frame[frame["hour_of_day"].isin(DAY_HOURS)]
    model = Pipeline(
        [
            ("price", ColumnTransformer([("p", "passthrough", ["price"])])),
            ("classifier", LogisticRegression()),
        ]
    ).fit(day.drop(columns=["purchased"]), day["purchased"])
    _, held_out = holdout_split(frame, "purchased")
    weak = weak_slices_of(model, held_out, "purchased", min_count=20)
    hours = {int(float(w.value)) for w in weak if w.column == "hour_of_day"}
    assert hours and hours <= set(NIGHT)

    # The gate lists the same slices for the registered candidate, as a reason to look.
    data = snapshot(local_kit, "purchases", path=path)
    (tmp_path / "model").mkdir()
    joblib.dump(model, tmp_path / "model" / "model.joblib")
    register(local_kit, "purchase", tmp_path / "model", lineage=Lineage(data=[data.ref]))
    decision = gate_candidate(
        local_kit, "purchase@1", "purchased", ["accuracy"], weak_slice_min_count=20
    )
    assert decision.promoted  # the first version: listed slices never refuse
    assert decision.reasons[-1] == (
        f"weak slices of purchase@1 on the held-out rows of {data.ref}: "
        + "; ".join(str(w) for w in weak)
    )
