"""Acceptance, the purchase story run unattended: scheduled checks over simulated days.

Nobody runs a command: the scheduled job (the monitoring pipeline's one step) runs each morning
with a fixed clock. Whether a purchase happened is known two days after the prediction, so the
first checks judge no metric (too few labels: pending), but the traffic has moved to the night
hours (drift), and there the scores sit near 0.5, so the accuracy the scores estimate flags the
night hours before their labels arrive; this retrains; the shop's extract still covers office
hours only, so the gate keeps the champion. The violations repeat on the next mornings, inside the
cooldown, now with the night hours' accuracy as their labels arrive: no second run starts, and
each refusal names the guard. The shop fixes its extract (a new data version arrives); once the
cooldown is over the next check retrains on it and the gate promotes the new version; once its
traffic is labelled, its follow-up check passes. A webhook receiver on loopback gets every
notification.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.acceptance.test_continuous_training import (
    NIGHT,
    serve,
    start_purchase_project,
    whole_day_extract,
)
from tests.monitoring.webhooks import WebhookReceiver

pytestmark = [pytest.mark.pipelines, pytest.mark.slow]

LABEL_DELAY = timedelta(days=2)
NIGHT_HOURS = {f"hour_of_day={hour}" for hour in NIGHT}
ESTIMATED_MIN = 0.84


class LateLabels:
    """The outcomes of served requests, arriving ``LABEL_DELAY`` after each prediction."""

    def __init__(self) -> None:
        self.waiting: list[tuple[datetime, str, int]] = []

    def add(self, outcomes: list[tuple[datetime, str, int]]) -> None:
        self.waiting += outcomes

    def arrive(self, kit: Any, until: datetime) -> int:
        """Log the outcomes known at ``until``; return how many arrived."""
        from mlops_kit.monitoring import log_ground_truth

        due = [
            (request, outcome) for at, request, outcome in self.waiting if at + LABEL_DELAY <= until
        ]
        self.waiting = [entry for entry in self.waiting if entry[0] + LABEL_DELAY > until]
        return log_ground_truth(kit, due, timestamp=until) if due else 0


def _estimated_flags(check: dict[str, Any]) -> set[str]:
    """The subjects whose estimated accuracy the check found below the spec's minimum."""
    return {v["subject"] for v in check["violations"] if v["name"] == "estimated_accuracy"}


def _guarded_spec(project: Path, webhook: str) -> str:
    """The project's monitoring spec with the loop's settings, as the schedule passes it (JSON)."""
    from mlops_kit.monitoring import MonitoringSpec

    path = project / "monitoring.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec["retraining"] |= {
        "on_new_data": True,
        "check_after_promotion": 3000,
        "guards": {"cooldown": "3d", "max_runs_per_week": 3, "max_consecutive_not_promoted": 2},
    }
    spec["min_label_share"] = 0.8
    # Before the labels: an hour whose scores expect fewer than 84 in 100 right is flagged.
    spec["slice_thresholds"]["hour_of_day"]["estimated_accuracy"] = {"min": ESTIMATED_MIN}
    spec["notifications"] = [{"name": "ml-team", "webhook": webhook}]
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return MonitoringSpec.load(path).model_dump_json()


def test_the_loop_retrains_once_per_cooldown_and_the_next_check_passes(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli
) -> None:
    from sqlalchemy import select

    from mlops_kit import data, models
    from mlops_kit.db.models.monitoring import MonitoringRun, TriggeredRun
    from mlops_kit.kit import Kit
    from mlops_kit.pipelines.components.check import check_model

    # The draws of the incident's test: the same extracts, so the same gate decisions.
    rng = np.random.default_rng(11)
    source = start_purchase_project(tmp_path, monkeypatch, run_cli, rng)
    # The simulated mornings come after every real moment of this test: the registry records
    # promotions at the real time, and a check may only see the promotions before its clock.
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    first_morning = tomorrow.replace(hour=6, minute=0, second=0, microsecond=0)
    mornings = [first_morning + timedelta(days=day) for day in range(8)]
    labels = LateLabels()
    with Kit.open() as kit:
        environment = kit.environment.run_parameter()
        labels.add(serve(kit, "purchase@champion", rng, 4800, end=mornings[0], label=False))

    def scheduled_job(morning: datetime) -> dict[str, Any]:
        """What the schedule runs each morning, with the morning as its clock."""
        with Kit.open() as kit:
            labels.arrive(kit, morning)
        result: dict[str, Any] = json.loads(check_model(environment, spec, morning.isoformat()))
        return result

    with WebhookReceiver() as receiver:
        spec = _guarded_spec(tmp_path / "purchase-model", receiver.url)

        # Day 1: no prediction has its outcome yet, so no metric is judged; the traffic has moved
        # to the night hours (drift), and retraining runs on the same office-hours extract. With
        # its 4800 predictions this is also the follow-up check of v1's promotion: it failed.
        day1 = scheduled_job(mornings[0])
        assert not day1["passed"]
        assert {v["kind"] for v in day1["violations"]} == {"drift", "metrics"}
        # But the scores are there: at night they sit near 0.5, where the model is unsure, so
        # the estimate flags the night hours before any of their labels arrive.
        assert _estimated_flags(day1) == NIGHT_HOURS
        waiting = {p["subject"] for p in day1["pending"] if p["name"] == "accuracy"}
        assert waiting == {"overall"} | {f"hour_of_day={hour}" for hour in range(24)}
        assert [(t["kind"], t["outcome"]) for t in day1["triggers"]] == [
            ("promotion", "started"),
            ("violations", "started"),
        ]
        assert day1["triggers"][0]["message"] == "follow-up check FAILED"
        assert "purchase@2 NOT promoted" in day1["retraining"]["result"]
        # The job retried (a flaky node, a duplicated schedule): the same cause starts nothing.
        retried = scheduled_job(mornings[0])
        assert [(t["kind"], t["outcome"]) for t in retried["triggers"]] == [
            ("violations", "duplicate")
        ]

        # Day 2: the shop's extract now covers the whole day; its ingestion makes a new version.
        whole_day_extract(rng).to_csv(source, index=False)
        with Kit.open() as kit:
            assert data.snapshot(kit, "purchases", path=source).ref == "purchases@2"
        day2 = scheduled_job(mornings[1])
        day2_labelled = 4800 - len(labels.waiting)
        # Half of the outcomes are in (share below min_label_share 0.8): still pending, and
        # the estimate still flags the night hours.
        assert day2["pending"] and _estimated_flags(day2) == NIGHT_HOURS
        assert {v["name"] for v in day2["violations"] if v["kind"] == "metrics"} == {
            "estimated_accuracy"
        }
        # Day 3 runs by hand, as someone would to see why nothing retrains: the CLI names the guard.
        with Kit.open() as kit:
            assert labels.arrive(kit, mornings[2]) == 4800 - day2_labelled
        day3 = run_cli("monitor", "check", "--end", mornings[2].isoformat(), "--format", "json")
        by_hand = run_cli("monitor", "check", "--end", mornings[2].isoformat())
        assert day3.exit_code == by_hand.exit_code == 1, by_hand.stderr
        assert re.search(
            r"refused: retraining \(violations\) by guard cooldown: the last retraining run "
            r"started \S+ \S+ UTC, within the cooldown of 3d",
            by_hand.stdout,
        )
        days_2_3 = [day2, json.loads(day3.stdout)["check"]]
        # Day 3: every outcome of the two served days is in; the night hours' accuracy is judged
        # (and drags the window's down).
        broken = {v["subject"] for v in days_2_3[1]["violations"] if v["name"] == "accuracy"}
        assert broken == {"overall"} | NIGHT_HOURS
        assert not days_2_3[1]["pending"] and _estimated_flags(days_2_3[1]) == NIGHT_HOURS
        # The labels say why the estimate, which trusts the scores, was too kind: the night
        # shoppers buy the dearer items the model calls unlikely. Its labelled history shows it.
        assert any("are not calibrated" in w for w in days_2_3[1]["warnings"])
        for day in days_2_3:
            assert not day["passed"] and day["retraining"]["handler"] is None
            refused, joined = day["triggers"]
            assert (refused["kind"], refused["outcome"], refused["guard"]) == (
                "violations",
                "refused",
                "cooldown",
            )
            assert (joined["cause"], joined["outcome"]) == ("new_data:purchases@2", "joined")

        # Day 4: the cooldown is over; retraining runs on the new data and the gate promotes.
        day4 = scheduled_job(mornings[3])
        assert [t["outcome"] for t in day4["triggers"]] == ["started", "joined"]
        assert "purchase@3 promoted to champion" in day4["retraining"]["result"]
        with Kit.open() as kit:
            champion = models.get_version(kit, "purchase@champion")
            assert (champion.ref, champion.datasets) == ("purchase@3", ["purchases@2"])
            labels.add(serve(kit, "purchase@champion", rng, 4800, end=mornings[5], label=False))

        # Day 8: the new champion's traffic of days 4 to 6 is labelled; its follow-up check passes.
        day6 = scheduled_job(mornings[7])

    assert day6["passed"] and day6["status"] == "passed", day6["violations"]
    assert [(t["kind"], t["outcome"]) for t in day6["triggers"]] == [("promotion", "started")]
    assert receiver.events() == [
        "violations",
        "promotion",  # v1's follow-up check failed
        "retraining",
        "violations",  # the retried job: its duplicate trigger is not news
        "violations",
        "refused",
        "violations",
        "refused",
        "violations",  # day 3 by hand, twice
        "refused",
        "violations",
        "retraining",
        "promotion",
        "promotion",  # the follow-up check
    ]
    texts = [body["text"] for body in receiver.bodies]
    assert "refused by guard cooldown" in texts[5]
    assert texts[-1].startswith("[mlops-kit] purchase@3: follow-up check of the promotion")
    assert "passed on 4800 predictions" in texts[-1]
    with Kit.open() as kit, kit.metadata.session() as session:
        # Each scheduled run is stored as a check run, with what it triggered and notified.
        runs = session.scalars(select(MonitoringRun).order_by(MonitoringRun.id)).all()
        assert [r.model_version for r in runs] == [1, 1, 1, 1, 1, 1, 3]
        assert [r.passed for r in runs] == [False] * 6 + [True]
        assert [r.triggers[0].get("guard") for r in runs[2:5]] == ["cooldown"] * 3
        assert all(n["delivered"] for r in runs for n in r.notifications)
        started = session.scalars(select(TriggeredRun).order_by(TriggeredRun.id)).all()
        assert [(r.kind, r.promoted) for r in started] == [
            ("check", None),
            ("retraining", False),
            ("retraining", True),
            ("check", None),
        ]
