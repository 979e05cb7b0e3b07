"""The time window a monitoring report covers, and the durations (``12h``, ``7d``) that size it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from mlops_kit.errors import ConfigError, shorten
from mlops_kit.limits import MAX_HOURS

_DURATION: Final = re.compile(r"^([0-9]{1,12})([hdw])$")
_UNIT_HOURS: Final = {"h": 1, "d": 24, "w": 24 * 7}


def window_hours(text: str, what: str = "window") -> int:
    """Hours in a duration such as ``12h``, ``7d`` or ``2w``.

    Args:
        text: the duration.
        what: what it is, named in the error (``window``, ``cooldown``).

    Raises:
        ConfigError: the text is not a positive number followed by h, d or w.
    """
    match = _DURATION.match(text.strip())
    hours = int(match.group(1)) * _UNIT_HOURS[match.group(2)] if match else 0
    if not 0 < hours <= MAX_HOURS:
        raise ConfigError(
            f"invalid {what} {shorten(text)!r}: use a positive number and h, d or w (7d), "
            f"at most {MAX_HOURS} hours"
        )
    return hours


def utc(moment: datetime | None) -> datetime:
    """``moment`` in UTC (default: now).

    Raises:
        ConfigError: ``moment`` has no timezone (its UTC time would be a guess), or its UTC time
            is outside the years 1 to 9999.
    """
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is None:
        raise ConfigError(f"timestamp {moment.isoformat()} has no timezone: pass an aware datetime")
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise ConfigError(
            f"timestamp {moment.isoformat()} is outside the years 1 to 9999 in UTC: pass a later "
            "or an earlier one"
        ) from exc


@dataclass(frozen=True)
class Window:
    """The time ``[start, end)`` in UTC: a report reads the predictions logged in it.

    Raises:
        ConfigError: a time has no timezone, or the start is not before the end.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        # Converted once here, so that every query and every time printed is in UTC.
        object.__setattr__(self, "start", utc(self.start))
        object.__setattr__(self, "end", utc(self.end))
        if self.start >= self.end:
            raise ConfigError(
                f"invalid window {self.start.isoformat()} to {self.end.isoformat()}: "
                "the start must come before the end"
            )

    @classmethod
    def last(cls, length: timedelta | str, end: datetime | None = None) -> Window:
        """The ``length`` of time up to ``end`` (default: now).

        Args:
            length: how far back from ``end``; a text as the spec writes it: ``12h``, ``7d``, ``2w``.
            end: the end of the window, with a timezone.

        Raises:
            ConfigError: ``length`` is not a positive duration, ``end`` has no timezone, or the
                window would start before year 1.
        """
        if isinstance(length, str):
            length = timedelta(hours=window_hours(length))
        end = utc(end)
        try:
            start = end - length
        except OverflowError as exc:
            raise ConfigError(
                f"invalid window of {length} up to {end.isoformat()}: it would start before year 1; "
                "pass a later end or a shorter window"
            ) from exc
        return cls(start, end)
