"""Performance estimated from the scores (CBPE) against realised metrics and a reference."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from mlops_kit.monitoring.estimation import finish_estimates
from tests.monitoring.conftest import END, duckdb_sliced_sums, spec_driven_report

Z_95 = 1.959963984540054
Z_9990 = 3.2905267314918945
"""Twenty estimates checked together: each within its interval widened to 99.9 % (the same
variance), so that all hold with about 98 % probability if the estimate is right."""


def _calibrated(rng: np.random.Generator, n: int, a: float = 2.0, b: float = 2.0):
    score = rng.beta(a, b, n)
    label = (rng.random(n) < score).astype(int)  # calibrated: P(label = 1 | score) = score
    return score, label, (score >= 0.5).astype(int)


def _reference(score: np.ndarray, said: np.ndarray) -> dict[str, float]:
    """CBPE by hand: the expected confusion matrix and the expected rank statistic."""
    tp = float(np.sum(said * score))
    fp = float(np.sum(said * (1 - score)))
    fn = float(np.sum((1 - said) * score))
    tn = float(np.sum((1 - said) * (1 - score)))
    # Expected ROC AUC: each pair (i positive with chance s_i, j negative with chance 1 - s_j),
    # ranked right when s_i > s_j, half when equal.
    order = np.argsort(score, kind="stable")
    ordered, negative = score[order], 1 - score[order]
    below = np.concatenate([[0.0], np.cumsum(negative)[:-1]])
    auc = float(np.sum(ordered * (below + 0.5 * negative))) / (score.sum() * negative.sum())
    return {
        "accuracy": (tp + tn) / len(score),
        "precision": tp / (tp + fp),
        "recall": tp / (tp + fn),
        "f1": 2 * tp / (2 * tp + fp + fn),
        "roc_auc": auc,
    }


def _sums(score: np.ndarray, said: np.ndarray) -> dict[str, float]:
    """The warehouse's estimation sums, computed in NumPy."""
    return {
        "est_n": len(score),
        "est_said": float(said.sum()),
        "est_tp": float(np.sum(said * score)),
        "est_pos": float(score.sum()),
        "est_var_said": float(np.sum(said * score * (1 - score))),
        "est_var": float(np.sum(score * (1 - score))),
    }


def test_duckdb_estimate_matches_a_pure_python_reference_labelled_or_not() -> None:
    rng = np.random.default_rng(11)
    n = 6000
    score, label, said = _calibrated(rng, n)
    group = rng.choice(["a", "b"], n)
    labels: list[int | None] = list(label)
    labels[: n // 2] = [None] * (n // 2)  # half the labels have not arrived: still estimated
    rows = duckdb_sliced_sums(said, score, labels, group, "classification", ["group"])
    for key, mask in [(("overall", "all"), np.ones(n, bool)), (("group", "b"), group == "b")]:
        row = rows[key]
        assert row["logged"] == mask.sum()
        assert row["n"] == mask[n // 2 :].sum()  # the labelled ones
        got = finish_estimates(row)
        expected = _reference(score[mask], said[mask])
        for name in ("accuracy", "precision", "recall", "f1"):
            assert got[name].value == pytest.approx(expected[name], rel=1e-9), name
        # Scores are binned 1e-4 wide for the rank statistic: the stated binning error.
        assert got["roc_auc"].value == pytest.approx(expected["roc_auc"], abs=1e-4)
        for name, estimate in got.items():
            assert estimate.lower < estimate.value < estimate.upper, name


@pytest.mark.parametrize(("a", "b", "n"), [(2.0, 2.0, 400), (0.7, 1.5, 800)])
def test_the_interval_covers_the_realised_metric_about_95_percent_of_the_time(
    a: float, b: float, n: int
) -> None:
    """Calibrated scores: the realised metric falls in the stated interval 95 % of the time."""
    rng = np.random.default_rng(5)
    trials = 600
    inside = dict.fromkeys(("accuracy", "precision", "recall", "f1"), 0)
    for _ in range(trials):
        score, label, said = _calibrated(rng, n, a, b)
        got = finish_estimates(_sums(score, said))
        tp = float(np.sum(said * label))
        realised = {
            "accuracy": float(np.mean(said == label)),
            "precision": tp / said.sum(),
            "recall": tp / label.sum(),
            "f1": 2 * tp / (said.sum() + label.sum()),
        }
        for name, value in realised.items():
            inside[name] += got[name].lower <= value <= got[name].upper
    # 600 trials: the share of a true 95 % interval lies in 0.93-0.97 with 99 % probability.
    for name, count in inside.items():
        assert 0.93 <= count / trials <= 0.97, (name, count / trials)


def _within(estimate, realised: float, z: float = Z_9990) -> bool:
    half = (estimate.upper - estimate.lower) / 2 * z / Z_95
    return abs(realised - estimate.value) <= half


def _log(kit, name: str, score, said, label, segment, *, labelled=None) -> None:
    from mlops_kit.monitoring import PredictionLogger, log_ground_truth

    rng = np.random.default_rng(3)
    minutes = rng.integers(0, 24 * 60, len(score))
    with PredictionLogger(kit, name, 1, batch_size=5000) as logger:
        for i in range(len(score)):
            logger.log(
                f"{name}-{i}",
                {"segment": str(segment[i])},
                int(said[i]),
                score=float(score[i]),
                timestamp=END - timedelta(days=1) + timedelta(minutes=int(minutes[i])),
            )
    chosen = range(len(score)) if labelled is None else labelled
    log_ground_truth(kit, {f"{name}-{i}": int(label[i]) for i in chosen})


def test_the_report_shows_estimated_against_realised_within_the_interval(local_kit) -> None:
    from mlops_kit.monitoring import WatchedModel, Window, build_report

    rng = np.random.default_rng(21)
    n = 6000
    segment = rng.choice(["web", "app", "store"], n)
    # Each segment has its own score distribution: the estimate differs by slice.
    shape = {"web": (2.0, 2.0), "app": (0.6, 1.2), "store": (3.0, 0.8)}
    score = np.array([rng.beta(*shape[s]) for s in segment])
    label = (rng.random(n) < score).astype(int)
    said = (score >= 0.5).astype(int)
    _log(local_kit, "calibrated", score, said, label, segment)
    report = build_report(
        local_kit,
        WatchedModel("calibrated", 1),
        slices=["segment"],
        window=Window.last("2d", END),
    )
    assert report.calibration is not None and report.calibration.holds
    assert report.calibration_warning is None
    judged = 0
    for part in report.slices:
        assert part.logged == part.count  # every label arrived
        for name, estimate in part.estimated.items():
            assert _within(estimate, part.metrics[name].value), (part.value, name)
            judged += 1
    assert judged == 20  # overall and three segments, five metrics each
    data = report.to_dict()["slices"][0]
    assert set(data["estimated"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert data["labelled_share"] == 1.0 and data["pending"] is False


def test_miscalibrated_scores_raise_the_warning_in_the_report_and_the_check(local_kit) -> None:
    from mlops_kit.monitoring import MonitoringSpec, WatchedModel, run_check

    rng = np.random.default_rng(8)
    n = 3000
    truth_score, label, _ = _calibrated(rng, n)
    # Overconfident: the logged score pushes every probability towards 0 or 1.
    score = truth_score**3 / (truth_score**3 + (1 - truth_score) ** 3)
    said = (score >= 0.5).astype(int)
    _log(local_kit, "overconfident", score, said, label, rng.choice(["x", "y"], n))
    spec = MonitoringSpec.model_validate(
        {
            "slices": ["segment"],
            "window": "2d",
            "thresholds": {"estimated_accuracy": {"min": 0.5}},
            "retraining": {"handler": None},
        }
    )
    report = spec_driven_report(local_kit, WatchedModel("overconfident", 1), spec, END)
    calibration = report.calibration
    assert calibration is not None and not calibration.holds
    assert calibration.ece > spec.max_calibration_error
    assert report.calibration_warning.startswith(
        "the scores of overconfident@1 are not calibrated: expected calibration error"
    )
    assert report.to_dict()["calibration"]["warning"] == report.calibration_warning
    result = run_check(local_kit, report, spec)
    assert result.passed
    assert report.calibration_warning in result.warnings


def test_too_few_labels_leave_the_calibration_unchecked() -> None:
    from mlops_kit.monitoring.estimation import MIN_CALIBRATION_ROWS, finish_calibration

    few = [{"bin": 9, "n": MIN_CALIBRATION_ROWS - 1, "score_sum": 94.0, "positives": 0.0}]
    calibration = finish_calibration(few, 0.05)
    assert not calibration.checked and calibration.holds
    assert calibration.warning("m@1") is None
    assert finish_estimates({"est_n": 0}) == {}


def test_the_calibration_reads_the_labelled_history_before_the_window(local_kit) -> None:
    from mlops_kit.monitoring import WatchedModel, Window, build_report

    rng = np.random.default_rng(5)
    n = 2000
    score, label, said = _calibrated(rng, n)
    _log(local_kit, "history", score, said, label, rng.choice(["x", "y"], n))
    model = WatchedModel("history", 1)
    # The whole history in the window: the calibration comes with the sliced sums.
    whole = build_report(local_kit, model, slices=["segment"], window=Window.last("2d", END))
    # A quarter of it in the window: the calibration still reads all of it.
    recent = build_report(local_kit, model, slices=["segment"], window=Window.last("6h", END))
    assert recent.logged < n / 2 and whole.logged == n
    assert whole.calibration is not None and recent.calibration is not None
    assert whole.calibration.rows == recent.calibration.rows == n
    assert recent.calibration.ece == pytest.approx(whole.calibration.ece, abs=1e-12)
    for mine, theirs in zip(whole.calibration.bins, recent.calibration.bins, strict=True):
        assert (mine.count, mine.positive_share) == (theirs.count, theirs.positive_share)
        assert mine.mean_score == pytest.approx(theirs.mean_score, abs=1e-12)
