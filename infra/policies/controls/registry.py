"""A control, the section of the benchmark that declares it, and a control's outcome on a stack."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Final

from infra.policies.controls.resources import Resource, get

ResourceCheck = Callable[[Resource], Iterator[str]]
StackCheck = Callable[[Sequence[Resource]], Iterator[tuple[Resource | None, str]]]


@dataclass(frozen=True)
class Control:
    """A control: its id, the benchmark ids it implements, and the function that checks it.

    A resource control's ``check`` takes one :class:`Resource` and yields violation messages; a
    stack control's takes every resource and yields ``(resource or None, message)`` pairs. An
    advisory control's violations are warnings: the audit lists them without failing, and the
    policy pack reports them without blocking an update.
    """

    id: str
    cis: tuple[str, ...]
    title: str
    types: tuple[str, ...]
    check: Callable[..., Iterable[Any]]
    stack: bool = False
    advisory: bool = False

    def applies_to(self, resource: Resource) -> bool:
        """Whether this (resource) control checks ``resource``."""
        return resource.type in self.types


@dataclass(frozen=True)
class Setting:
    """A control that reads one setting of one resource type: a row of a section's checklist.

    With ``must_be`` the setting at dotted ``path`` must be that value; with ``one_of``, one of
    those values; with ``must_not_be`` it may be anything else, unset included; with none of them
    it must be set (not empty). ``True`` and ``False`` compare by identity: a setting must be the
    boolean, not a value equal to it. A resource that breaks the row gets ``problem`` as its one
    violation, with ``{value}`` replaced by the value it has.
    """

    id: str
    cis: Sequence[str]
    title: str
    type: str
    path: str
    _: KW_ONLY
    problem: str
    must_be: object = None
    one_of: tuple[object, ...] = ()
    must_not_be: object = None

    def check(self, resource: Resource) -> Iterator[str]:
        """Yield :attr:`problem` when ``resource`` breaks this row."""
        value = get(resource.props, self.path)
        if self.must_be is not None:
            failed = not _is(value, self.must_be)
        elif self.one_of:
            failed = not any(_is(value, allowed) for allowed in self.one_of)
        elif self.must_not_be is not None:
            failed = _is(value, self.must_not_be)
        else:
            failed = not value
        if failed:
            yield self.problem.format(value=value)


class Section:
    """The controls of one benchmark section, in the benchmark's order.

    Controls that implement a CIS recommendation come first, by its number (``CIS GKE 5.6.2``
    before ``5.10.1``), then the others (checkov checks, hardening) as they are declared: the
    audit reads like the benchmark whether a control is a checklist row or a function.
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self._controls: list[Control] = []

    @property
    def controls(self) -> list[Control]:
        """The section's controls in the benchmark's order."""
        return sorted(self._controls, key=_benchmark_order)

    def add(self, control: Control) -> None:
        """Add ``control`` to this section."""
        self._controls.append(control)

    def resource_control(
        self, id_: str, cis: Sequence[str], title: str, *types: str, advisory: bool = False
    ) -> Callable[[ResourceCheck], ResourceCheck]:
        """Register a function ``(resource) -> messages`` as a control of ``types``."""

        def register(fn: ResourceCheck) -> ResourceCheck:
            self.add(Control(id_, tuple(cis), title, types, fn, advisory=advisory))
            return fn

        return register

    def settings(self, *rows: Setting) -> None:
        """Register each row of this section's checklist of settings as a control, in order."""
        for row in rows:
            self.add(Control(row.id, tuple(row.cis), row.title, (row.type,), row.check))

    def stack_control(
        self, id_: str, cis: Sequence[str], title: str, *types: str
    ) -> Callable[[StackCheck], StackCheck]:
        """Register a function ``(resources) -> (resource | None, message)`` as a stack control."""

        def register(fn: StackCheck) -> StackCheck:
            self.add(Control(id_, tuple(cis), title, types, fn, stack=True))
            return fn

        return register


_CIS_NUMBER: Final = re.compile(r"^CIS \w+ (?:v\d+ )?(\d+(?:\.\d+)*)")


def _benchmark_order(control: Control) -> tuple[float, ...]:
    # A recommendation's number, as numbers; controls beyond CIS after them (sorted() is stable).
    number = _CIS_NUMBER.match(control.cis[0]) if control.cis else None
    return tuple(int(part) for part in number[1].split(".")) if number else (math.inf,)


def _is(value: object, expected: object) -> bool:
    return value is expected if isinstance(expected, bool) else value == expected


@dataclass(frozen=True)
class Violation:
    """A failed control on a resource (or on the whole stack when ``resource`` is ``None``)."""

    control: str
    cis: tuple[str, ...]
    resource_type: str | None
    resource: str | None
    message: str


@dataclass
class ControlResult:
    """A control's outcome on one stack."""

    control: Control
    checked: int
    violations: list[Violation] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``pass``, ``FAIL``, ``warn`` (an advisory control's violations) or ``n/a`` (no
        resource of the control's types)."""
        if self.violations:
            return "warn" if self.control.advisory else "FAIL"
        return "pass" if self.checked else "n/a"
