"""The continuous-training loop: guards, triggers with their cause keys, notifications."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlops_kit.monitoring import MonitoringReport, MonitoringSpec, WatchedModel, Window
from mlops_kit.monitoring.guards import PastRun, refusal
from mlops_kit.monitoring.metric_table import Estimate
from mlops_kit.monitoring.metrics import SliceMetrics
from mlops_kit.monitoring.spec import RetrainingGuards
from tests.monitoring.conftest import spec_refusal
from tests.monitoring.webhooks import WebhookReceiver

NOW = datetime(2026, 11, 20, 6, tzinfo=UTC)


def _guards(**values: Any) -> RetrainingGuards:
    return RetrainingGuards.model_validate(values)


def _ran(hours_ago: float, state: str = "finished", promoted: bool | None = False) -> PastRun:
    return PastRun(NOW - timedelta(hours=hours_ago), state, promoted)


def test_no_guard_refuses_a_first_run_and_each_guard_names_itself() -> None:
    assert refusal(_guards(cooldown="3d", max_runs_per_day=1), [], NOW) is None
    cases = [
        (_guards(cooldown="3d"), [_ran(47)], "cooldown", "within the cooldown of 3d"),
        (_guards(max_runs_per_day=2), [_ran(2), _ran(20)], "max_runs_per_day", "limit 2"),
        (_guards(max_runs_per_week=2), [_ran(30), _ran(100)], "max_runs_per_week", "168 hours"),
        (_guards(), [_ran(1, "submitted", None)], "one_in_flight", "still going"),
        (
            _guards(max_consecutive_not_promoted=2),
            [_ran(200), _ran(100), _ran(300, promoted=True)],
            "max_consecutive_not_promoted",
            "the last 2 retraining runs were not promoted",
        ),
    ]
    for guards, past, name, message in cases:
        refused = refusal(guards, past, NOW)
        assert refused is not None and refused.guard == name, (name, refused)
        assert message in refused.message


def test_guards_let_runs_through_once_their_limits_pass() -> None:
    assert refusal(_guards(cooldown="3d"), [_ran(73)], NOW) is None
    assert refusal(_guards(max_runs_per_day=1), [_ran(25)], NOW) is None
    assert refusal(_guards(one_in_flight=False), [_ran(1, "running", None)], NOW) is None
    # A promotion (by the loop or by hand) clears the streak of runs that were not promoted.
    streak = [_ran(200), _ran(100)]
    limit = _guards(max_consecutive_not_promoted=2)
    assert refusal(limit, streak, NOW) is not None
    assert refusal(limit, streak, NOW, last_promotion=NOW - timedelta(hours=150)) is None
    # Runs whose outcome is not known (a handler that only files a ticket) neither count nor clear.
    assert refusal(limit, [*streak, _ran(10, promoted=None)], NOW) is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "retraining:\n  guards:\n    cooldown: -3d\n",
            "retraining.guards.cooldown: invalid cooldown '-3d'",
        ),
        ("retraining:\n  guards:\n    cooldown: 0h\n", "invalid cooldown '0h'"),
        (
            "retraining:\n  guards:\n    max_runs_per_day: 0\n",
            "max_runs_per_day: Input should be greater",
        ),
        ("retraining:\n  guards:\n    wait: 1d\n", "retraining.guards.wait: Extra inputs"),
        ("retraining:\n  check_after_promotion: -5\n", "check_after_promotion"),
        (
            "notifications:\n  - {name: team, webhook: 'ftp://x'}\n",
            "invalid webhook 'ftp://x': use an http(s):// URL or ${VARIABLE}",
        ),
        ("notifications:\n  - {name: ../team, webhook: 'https://x'}\n", "notifications.0.name"),
        ("notifications:\n  - {name: '<b>t</b>', webhook: 'https://x'}\n", "should match pattern"),
        ("notifications:\n  - {name: t, webhook: 'https://x', events: [deploy]}\n", "events.0"),
        ("notifications:\n  - {name: t, webhook: 'https://x', timeout: 0}\n", "timeout"),
        (
            "notifications:\n  - {name: t, webhook: 'https://x'}\n  - {name: t, webhook: 'https://y'}\n",
            "two notification channels have the same name",
        ),
    ],
)
def test_invalid_loop_settings_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    assert message in spec_refusal(tmp_path, text)


def test_a_literal_webhook_url_is_not_stored_with_the_run() -> None:
    spec = MonitoringSpec.model_validate(
        {
            "notifications": [
                {"name": "slack", "webhook": "https://hooks.slack.com/services/T0/B0/s3cret"},
                {"name": "chat", "webhook": "${CHAT_WEBHOOK}", "body": "text"},
            ]
        }
    )
    stored = spec.stored()["notifications"]
    assert [c["webhook"] for c in stored] == ["https://hooks.slack.com/***", "${CHAT_WEBHOOK}"]


def _report(
    version: int = 1,
    end: datetime = NOW,
    accuracy: float = 0.6,
    training_data: list[str] | None = None,
) -> MonitoringReport:
    return MonitoringReport(
        WatchedModel("m", version, training_data=training_data or []),
        "classification",
        Window.last("7d", end),
        500,
        500,
        [SliceMetrics("overall", "all", 500, {"accuracy": Estimate(accuracy)}, logged=500)],
        {},
        {},
        {},
    )


def _spec(channels: list[dict[str, Any]] | None = None, **retraining: Any) -> MonitoringSpec:
    return MonitoringSpec.model_validate(
        {
            "thresholds": {"accuracy": {"min": 0.9}},
            "retraining": {"handler": "recorder", **retraining},
            "notifications": channels or [],
        }
    )


def test_a_retried_check_starts_no_second_run_for_the_same_cause(
    metadata_url: str, project_dir: Path, retraining_recorder: list[object]
) -> None:
    from sqlalchemy import select

    from mlops_kit.db import METADATA_DATABASES, migrate
    from mlops_kit.db.models.monitoring import MonitoringRun, TriggeredRun
    from mlops_kit.kit import Kit
    from mlops_kit.monitoring import run_check

    migrate.upgrade(METADATA_DATABASES.open(metadata_url))
    spec = _spec()
    with Kit.open(metadata=metadata_url) as kit:
        first = run_check(kit, _report(), spec, now=NOW)
        retried = run_check(kit, _report(), spec, now=NOW + timedelta(minutes=5))
        assert [t["outcome"] for t in first.triggers] == ["started"]
        assert first.retraining_result == "run-1"
        (duplicate,) = retried.triggers
        assert duplicate["outcome"] == "duplicate"
        assert duplicate["cause"] == first.triggers[0]["cause"]
        assert duplicate["message"] == "already started: run-1"
        assert retried.retraining_handler is None and len(retraining_recorder) == 1
        # The next window is another cause: without guards it starts a run.
        next_day = run_check(kit, _report(end=NOW + timedelta(days=1)), spec, now=NOW)
        assert [t["outcome"] for t in next_day.triggers] == ["started"]
        with kit.metadata.session() as session:
            rows = session.scalars(select(TriggeredRun).order_by(TriggeredRun.id)).all()
            assert [(r.kind, r.state, r.reference) for r in rows] == [
                ("retraining", "finished", "run-1"),
                ("retraining", "finished", "run-2"),
            ]
            stored = session.get(MonitoringRun, retried.run_id)
            assert stored is not None and stored.triggers == retried.triggers


def test_two_checks_claiming_one_cause_start_one_run(metadata_url: str, project_dir: Path) -> None:
    from mlops_kit.db import METADATA_DATABASES, migrate
    from mlops_kit.kit import Kit
    from mlops_kit.monitoring import run_check
    from mlops_kit.monitoring.triggers import _Check, _claim

    migrate.upgrade(METADATA_DATABASES.open(metadata_url))
    hostile = "violations:1:x:'; DROP TABLE triggered_runs; --"
    with Kit.open(metadata=metadata_url) as kit:
        stored = run_check(kit, _report(), _spec(), retrain=False, now=NOW)
        check = _Check(kit, _report(), _spec(), stored.run_id, NOW)
        assert _claim(check, "retraining", hostile)
        # The unique constraint, not a look-up, refuses the second claim of the cause.
        assert _claim(check, "retraining", hostile) is None
        assert _claim(check, "check", "promotion:m@1:x")


def test_a_refusal_names_its_guard_on_the_run_and_in_the_notification(
    local_kit: Any, retraining_recorder: list[object]
) -> None:
    from mlops_kit.db.models.monitoring import MonitoringRun
    from mlops_kit.monitoring import run_check

    with WebhookReceiver() as receiver:
        spec = _spec([{"name": "team", "webhook": receiver.url}], guards={"cooldown": "3d"})
        run_check(local_kit, _report(), spec, now=NOW)
        refused = run_check(
            local_kit, _report(end=NOW + timedelta(days=1)), spec, now=NOW + timedelta(days=1)
        )
    (trigger,) = refused.triggers
    assert (trigger["outcome"], trigger["guard"]) == ("refused", "cooldown")
    assert refused.refusals == [trigger] and len(retraining_recorder) == 1
    with local_kit.metadata.session() as session:
        stored = session.get(MonitoringRun, refused.run_id)
        assert stored.triggers[0]["guard"] == "cooldown"
        assert all(n["delivered"] for n in stored.notifications)
    assert receiver.events() == ["violations", "retraining", "violations", "refused"]
    body = receiver.bodies[-1]
    assert body["details"]["guard"] == "cooldown"
    assert body["text"].startswith(
        "[mlops-kit] m@1: retraining (violations) refused by guard cooldown"
    )
    assert receiver.content_types[-1] == "application/json; charset=utf-8"


def test_notification_bodies_escape_markup_and_google_chat_gets_text_only(
    local_kit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_kit.monitoring import run_check

    report = _report()
    report.slices.append(
        SliceMetrics(
            "device", "<!channel> & <http://x|y>", 500, {"accuracy": Estimate(0.1)}, logged=500
        )
    )
    spec = MonitoringSpec.model_validate(
        {
            "slices": ["device"],
            "slice_thresholds": {"device": {"accuracy": {"min": 0.5}}},
            "retraining": {"handler": None},
            "notifications": [
                {"name": "chat", "webhook": "${CHAT_WEBHOOK}", "body": "text"},
                {"name": "slack", "webhook": "${SLACK_WEBHOOK}", "events": ["promotion"]},
            ],
        }
    )
    with WebhookReceiver() as receiver:
        monkeypatch.setenv("CHAT_WEBHOOK", receiver.url)
        import os

        result = run_check(local_kit, report, spec, now=NOW, environ=os.environ)
    (body,) = receiver.bodies
    assert list(body) == ["text"]
    assert "&lt;!channel&gt; &amp; &lt;http://x|y&gt;" in body["text"]
    assert "<" not in body["text"]
    assert result.notifications == [{"channel": "chat", "event": "violations", "delivered": True}]


def test_failed_notifications_are_recorded_and_never_fail_the_check(local_kit: Any) -> None:
    from mlops_kit.monitoring import run_check

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts, never answers: the timeout bounds the wait
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        with WebhookReceiver(status=500) as refusing:
            spec = _spec(
                [
                    {"name": "refusing", "webhook": refusing.url},
                    {
                        "name": "silent",
                        "webhook": f"http://127.0.0.1:{silent.getsockname()[1]}/",
                        "timeout": 0.2,
                    },
                    {"name": "closed", "webhook": f"http://127.0.0.1:{closed_port}/"},
                    {"name": "unset", "webhook": "${NO_SUCH_WEBHOOK_VARIABLE}"},
                ],
                handler=None,
            )
            result = run_check(local_kit, _report(), spec, now=NOW)
    finally:
        silent.close()
    errors = {n["channel"]: n["error"] for n in result.notifications}
    assert not any(n["delivered"] for n in result.notifications)
    assert errors["refusing"] == "refused: HTTP 500 Internal Server Error"
    assert errors["silent"] == "no answer within the timeout"
    assert "refused" in errors["closed"].lower()
    assert errors["unset"].startswith(
        "notification channel 'unset': environment variable NO_SUCH_WEBHOOK_VARIABLE is not set"
    )
    assert not result.passed and result.run_id


def test_a_data_version_the_model_never_saw_triggers_training_once(
    local_kit: Any, tmp_path: Path
) -> None:
    import pandas as pd

    from mlops_kit import data, models
    from mlops_kit.models import Lineage
    from mlops_kit.monitoring.triggers import new_data_trigger
    from tests.models.conftest import train_classifier

    source = tmp_path / "events.csv"
    pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]}).to_csv(source, index=False)
    first = data.snapshot(local_kit, "events", path=source)
    artifact = train_classifier(tmp_path / "model")
    models.register(local_kit, "m", artifact, lineage=Lineage(data=[first.ref]))
    report = _report(training_data=[first.ref])
    assert new_data_trigger(local_kit, report) is None

    pd.DataFrame({"x": [1, 2, 3, 4], "y": [0, 1, 0, 1]}).to_csv(source, index=False)
    second = data.snapshot(local_kit, "events", path=source)
    trigger = new_data_trigger(local_kit, report)
    assert trigger is not None and trigger.cause == f"new_data:{second.ref}"
    assert trigger.reasons == [
        f"new data version {second.ref} (the newest model version m@1 saw {first.ref})"
    ]
    # Once a version was trained on it (promoted or not), the data is no longer new.
    models.register(local_kit, "m", artifact, lineage=Lineage(data=[second.ref]))
    assert new_data_trigger(local_kit, report) is None


@pytest.mark.pipelines
def test_the_scheduled_pipeline_runs_the_check_on_kfp_local(
    local_kit: Any, purchase_story: Any, tmp_path: Path
) -> None:
    import json

    from mlops_kit import models
    from mlops_kit.db.models.monitoring import MonitoringRun
    from mlops_kit.models.lookup import as_utc
    from mlops_kit.orchestrators import PipelineSubmission
    from mlops_kit.pipelines.build import BuildTarget, compile_pipeline
    from mlops_kit.pipelines.monitoring import monitoring_pipeline
    from tests.models.conftest import train_classifier
    from tests.monitoring.conftest import END

    models.register(local_kit, "purchase", train_classifier(tmp_path / "model"))
    spec = MonitoringSpec.model_validate(
        {
            "model": "purchase@1",
            "slices": ["hour_of_day"],
            "slice_thresholds": {"hour_of_day": {"accuracy": {"min": 0.7}}},
            "retraining": {"handler": None},
        }
    )
    package = compile_pipeline(
        monitoring_pipeline(BuildTarget(), "purchase-monitoring"), tmp_path / "monitoring.yaml"
    )
    run = local_kit.orchestrator.submit(
        PipelineSubmission(
            package,
            {
                "environment": local_kit.environment.run_parameter(),
                "spec": spec.model_dump_json(),
                "end": END.isoformat(),
            },
            "purchase-monitoring",
            pipeline_root=str(tmp_path / "runs"),
        )
    )

    assert run.state == "SUCCEEDED", run.error
    result = json.loads(run.outputs["Output"])
    assert not result["passed"] and result["violations"]
    with local_kit.metadata.session() as session:
        stored = session.get(MonitoringRun, result["run_id"])
        assert stored is not None and as_utc(stored.window_end) == END


def test_notification_text_stays_within_its_limit_once_escaped() -> None:
    from mlops_kit.monitoring.notifications import _TEXT_LIMIT, limited_text

    plain = limited_text("a" * 5000)
    assert len(plain) == _TEXT_LIMIT and plain == "a" * (_TEXT_LIMIT - 1) + "…"
    assert limited_text("<b> & c") == "&lt;b&gt; &amp; c"
    marked = limited_text("&" * 5000)
    # Cut between escapes, never inside one, and no longer than the limit once escaped.
    assert len(marked) <= _TEXT_LIMIT and marked.endswith("&amp;…")
    assert marked[:-1].replace("&amp;", "") == ""
