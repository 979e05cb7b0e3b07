"""The ``--fail-on`` rules of a dataset diff, declared once in :data:`RULES`.

The parser, the CLI's help and the README's list all come from that table. A rule list such as
``conformance,schema,psi>0.2`` is parsed by :func:`parse_rules` before any work, so that a typo
fails in one line before the diff reads any data; each parsed :class:`Rule` then reads the diff's
summary (see :class:`~mlops_kit.data.DatasetDiff`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops_kit.errors import ConfigError

Summary = Mapping[str, Any]


def _conformance(summary: Summary, _limit: float) -> list[str]:
    return [
        f"conformance: {name} has {item['nonconforming']} values that are not {item['expected']}"
        for name, item in summary["conformance"].items()
        if item["nonconforming"]
    ]


def _schema(summary: Summary, _limit: float) -> list[str]:
    schema = summary["schema"]
    changes = [f"+{c['name']}" for c in schema["added"]]
    changes += [f"-{c['name']}" for c in schema["removed"]]
    changes += [f"{c['name']}: {c['from']}→{c['to']}" for c in schema["retyped"]]
    return [f"schema: {', '.join(changes)}"] if changes else []


def _drift(measure: str) -> Callable[[Summary, float], list[str]]:
    def check(summary: Summary, limit: float) -> list[str]:
        broken = []
        for name, column in summary["columns"].items():
            value = (column.get("drift") or {}).get(measure)
            if value is not None and value > limit:
                broken.append(f"{measure}: {name} = {value:.3f} > {limit}")
        return broken

    return check


def _nulls(summary: Summary, limit: float) -> list[str]:
    broken = []
    for name, column in summary["columns"].items():
        a, b = column.get("a"), column.get("b")
        if a and b and b["null_rate"] - a["null_rate"] > limit:
            broken.append(f"nulls: {name} null rate {a['null_rate']:.3f}→{b['null_rate']:.3f}")
    return broken


def _rows(summary: Summary, limit: float) -> list[str]:
    change = summary["rows"]["change_rate"]
    return [f"rows: changed by {change:+.1%} (limit {limit:.1%})"] if abs(change) > limit else []


@dataclass(frozen=True)
class RuleKind:
    """One kind of rule: its name, when it breaks, the unit of its limit and its check.

    Attributes:
        name: the rule's name (``psi``).
        breaks_when: when the rule breaks, in a sentence without its final stop.
        unit: what the limit ``X`` measures; empty for a rule written without one.
        check: the messages of what breaks the rule in a diff's summary, given the limit.
    """

    name: str
    breaks_when: str
    unit: str
    check: Callable[[Summary, float], list[str]]

    @property
    def syntax(self) -> str:
        """How the rule is written: ``NAME>X`` with a limit, else ``NAME``."""
        return f"{self.name}>X" if self.unit else self.name

    def describe(self) -> str:
        """The syntax, when the rule breaks and the unit of its limit, in one line."""
        unit = f" ({self.unit})" if self.unit else ""
        return f"{self.syntax}: {self.breaks_when}{unit}"


RULES: tuple[RuleKind, ...] = (
    RuleKind(
        "conformance",
        "a value does not parse as its column's type in the reference (text in a numeric column)",
        "",
        _conformance,
    ),
    RuleKind("schema", "a column is added, removed or retyped", "", _schema),
    RuleKind(
        "psi",
        "a numeric column's population stability index is above X",
        "an index from 0: 0.1 is a moderate shift, 0.2 a large one",
        _drift("psi"),
    ),
    RuleKind(
        "ks",
        "a numeric column's Kolmogorov–Smirnov statistic is above X",
        "the largest gap between the two cumulative shares, 0 to 1",
        _drift("ks"),
    ),
    RuleKind(
        "js",
        "a categorical column's Jensen–Shannon distance is above X",
        "0 for the same shares to 1 for no category in common",
        _drift("js"),
    ),
    RuleKind(
        "nulls",
        "a column's null rate grows by more than X",
        "a share of the rows: 0.05 is 5 percentage points",
        _nulls,
    ),
    RuleKind(
        "rows",
        "the row count changes by more than X, up or down",
        "a share of the reference's rows: 0.1 is ±10 %",
        _rows,
    ),
)
"""Every kind of ``--fail-on`` rule."""


@dataclass(frozen=True)
class Rule:
    """A parsed rule: its kind and, for a ``NAME>X`` kind, the limit ``X``."""

    kind: RuleKind
    limit: float = 0.0

    def broken(self, summary: Summary) -> list[str]:
        """What breaks this rule in a diff's ``summary``, one message each (empty: it holds)."""
        return self.kind.check(summary, self.limit)


_LIMITED = re.compile(r"^([a-z]+)\s*>\s*([0-9]*\.?[0-9]+)$")


def parse_rules(text: str) -> list[Rule]:
    """Parse a comma-separated list of rules, such as ``conformance,schema,psi>0.2``.

    Raises:
        ConfigError: a rule is not one of :data:`RULES` or its limit is not a number ≥ 0.
    """
    return [_parse(part.strip()) for part in text.split(",") if part.strip()]


def _parse(text: str) -> Rule:
    kinds = {kind.name: kind for kind in RULES}
    bare = kinds.get(text)
    if bare is not None and not bare.unit:
        return Rule(bare)
    match = _LIMITED.match(text)
    limited = kinds.get(match.group(1)) if match else None
    if match and limited is not None and limited.unit:
        return Rule(limited, float(match.group(2)))
    syntaxes = [kind.syntax for kind in RULES]
    raise ConfigError(
        f"unknown --fail-on rule {text!r}: use {', '.join(syntaxes[:-1])} or {syntaxes[-1]} "
        "(X a number ≥ 0)"
    )
