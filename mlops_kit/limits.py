"""The bounds of numbers a user gives: version numbers and durations that every store can hold."""

from __future__ import annotations

import math
import re

from mlops_kit.errors import ConfigError

MAX_VERSION = 2**31 - 1
"""The largest version number: what the metadata database's INTEGER version columns hold."""

_VERSION = re.compile(r"^[0-9]{1,10}$")

MAX_HOURS = 24 * 366 * 100
"""The longest duration in hours a user may give (a century): longer ones overflow datetimes."""


def version_number(text: str) -> int | None:
    """``text`` as a version number from 1 to :data:`MAX_VERSION`, else ``None``.

    Only ASCII digits count (``str.isdigit`` also accepts ``²``, which ``int`` refuses).
    """
    if not _VERSION.match(text):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_VERSION else None


def check_hours(hours: float, option: str) -> float:
    """Return ``hours`` if it is a finite number from 0 to :data:`MAX_HOURS`.

    Raises:
        ConfigError: ``hours`` is NaN, infinite, negative or longer than a century.
    """
    if not (math.isfinite(hours) and 0 <= hours <= MAX_HOURS):
        raise ConfigError(f"invalid {option} {hours}: give a number of hours from 0 to {MAX_HOURS}")
    return hours
