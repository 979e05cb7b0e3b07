"""The time window of a report: one type, in UTC, that refuses what it cannot mean."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mlops_kit.errors import ConfigError
from mlops_kit.monitoring import Window

END = datetime(2026, 11, 20, tzinfo=UTC)


def test_a_window_ends_at_its_end_and_reads_the_specs_durations() -> None:
    paris = datetime(2026, 11, 20, 1, tzinfo=timezone(timedelta(hours=1)))
    window = Window.last("2d", paris)
    assert window == Window(datetime(2026, 11, 18, tzinfo=UTC), END)
    assert window.end.tzinfo is UTC and window.start.tzinfo is UTC
    assert Window.last(timedelta(hours=6), END).start == datetime(2026, 11, 19, 18, tzinfo=UTC)

    before = datetime.now(UTC)
    assert before <= Window.last("1h").end <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (lambda: Window(datetime(2026, 11, 13), END), "has no timezone"),
        (lambda: Window.last("7d", datetime(2026, 11, 20)), "has no timezone"),
        (lambda: Window(END, END), "the start must come before the end"),
        (lambda: Window(END, END - timedelta(days=1)), "the start must come before the end"),
        (lambda: Window.last(timedelta(0), END), "the start must come before the end"),
        (lambda: Window.last("7y", END), "invalid window '7y'"),
        (lambda: Window.last("7d", datetime(1, 1, 1, tzinfo=UTC)), "would start before year 1"),
        (
            lambda: Window.last("1h", datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))),
            "is outside the years 1 to 9999 in UTC",
        ),
        (
            lambda: Window.last(
                "1h", datetime(9999, 12, 31, 23, tzinfo=timezone(-timedelta(hours=5)))
            ),
            "is outside the years 1 to 9999 in UTC",
        ),
    ],
)
def test_a_naive_time_an_empty_or_reversed_window_and_a_bad_duration_are_refused(
    window: Callable[[], Window], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        window()
    assert "\n" not in str(refused.value)
