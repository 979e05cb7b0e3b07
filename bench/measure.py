"""What every benchmark measures and how it prints it: one module, shared by the bench scripts.

On a shared machine wall time depends on what the other users run, so each measurement carries
CPU time (user + system of the measured process and of its waited-for children) beside wall time,
its peak resident memory, and the load average around it; every ratio is computed on both times.
Goals are judged on CPU time unless the goal itself is about wall time or latency.

The scripts run as ``python bench/NAME.py``, so this module is imported as ``measure``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")


@dataclass
class Measurement:
    """Wall and CPU seconds of one piece of work, and the peak resident memory it reached."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_mb: float = float("nan")

    def over(self, other: Measurement) -> tuple[float, float]:
        """This measurement's (wall, CPU) as multiples of ``other``'s."""
        return self.wall_s / other.wall_s, self.cpu_s / other.cpu_s

    def plus(self, other: Measurement) -> Measurement:
        """The two pieces of work one after the other (peak memory: the larger)."""
        return Measurement(
            self.wall_s + other.wall_s,
            self.cpu_s + other.cpu_s,
            max(self.peak_mb, other.peak_mb),
        )


def cpu_seconds() -> float:
    """User + system seconds of this process and of every child it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def own_peak_mb() -> float:
    """This process's peak resident memory so far.

    VmHWM belongs to the address space, which ``exec`` replaces; ``ru_maxrss`` would also carry
    the resident size of the process that spawned this one (Linux records it at ``exec``).
    """
    with Path("/proc/self/status").open() as status:
        line = next(line for line in status if line.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


@contextmanager
def measured() -> Iterator[Measurement]:
    """Measure the block: wall and CPU time (children included) and this process's peak memory."""
    result = Measurement()
    wall, cpu = time.perf_counter(), cpu_seconds()
    try:
        yield result
    finally:
        result.wall_s = time.perf_counter() - wall
        result.cpu_s = cpu_seconds() - cpu
        result.peak_mb = own_peak_mb()


def run(
    command: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[Measurement, str]:
    """Run a command to completion; its measurement (its own rusage, descendants included) and stdout.

    ``wait4`` gives this child's rusage alone, not that of every child this script has run. Its
    peak memory is a ceiling: Linux counts in it the resident size of this process when it
    spawned the child. Workers that must report their own peak print ``own_peak_mb()``.

    Raises:
        RuntimeError: the command failed; the message carries the end of its standard error.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{stderr[-3000:]}")
    return Measurement(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024), stdout


def run_many(command: Sequence[str], runs: int) -> list[Measurement]:
    """``runs`` measured runs of a command, after one warm-up run (file cache)."""
    run(command)
    return [run(command)[0] for _ in range(runs)]


def repeated(action: Callable[[], object], runs: int) -> list[Measurement]:
    """One measurement per call of ``action``, after one warm-up call (caches, connections)."""
    action()
    calls = []
    for _ in range(runs):
        with measured() as one:
            action()
        calls.append(one)
    return calls


def median(calls: Sequence[Measurement]) -> Measurement:
    """The median wall and median CPU time of repeated runs, and their largest peak memory."""
    return Measurement(
        statistics.median(c.wall_s for c in calls),
        statistics.median(c.cpu_s for c in calls),
        max(c.peak_mb for c in calls),
    )


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def load_average() -> float:
    """The 1-minute load average (2 cores here: above 2, other work was waiting for a core)."""
    return os.getloadavg()[0]


def verdict(value: float, operator: str, limit: float) -> str:
    """``met`` or ``MISSED`` for ``value operator limit`` (operator ``<=`` or ``>=``)."""
    met = value <= limit if operator == "<=" else value >= limit
    return "met" if met else "MISSED"


@dataclass
class Table:
    """One benchmark's table: a title, named columns, rows of values, and the load around it."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    load: list[float] = field(default_factory=lambda: [load_average()])

    def add(self, *values: Any) -> None:
        """Append one row, its values in the order of ``columns``."""
        self.rows.append(list(values))

    def add_measurement(
        self, case: str, measurement: Measurement, reference: Measurement | None = None
    ) -> None:
        """A row of the standard columns: case, wall, CPU, peak MB, and both ratios to a reference."""
        wall, cpu = measurement.over(reference) if reference else (float("nan"), float("nan"))
        self.add(case, measurement.wall_s, measurement.cpu_s, measurement.peak_mb, wall, cpu)

    def add_goal(
        self, goal: str, wall: float, cpu: float, operator: str, limit: float, judged_on: str
    ) -> bool:
        """A goal row: the ratio or value on both times, judged on ``judged_on`` (wall or cpu)."""
        outcome = verdict(cpu if judged_on == "cpu" else wall, operator, limit)
        self.add(f"goal {goal}", "", "", "", wall, cpu, f"{outcome} (on {judged_on})")
        return outcome == "met"

    def show(self) -> None:
        """Print the table, with the load average before and after the runs."""
        self.load.append(load_average())
        cells = [[_cell(value) for value in row] for row in self.rows]
        widths = [
            max([len(header)] + [len(row[i]) for row in cells if i < len(row)])
            for i, header in enumerate(self.columns)
        ]
        print(f"\n{self.title}")
        print(
            f"load average (1 min) {self.load[0]:.2f} before, {self.load[-1]:.2f} after, "
            f"{os.cpu_count()} cores"
        )
        for row in [self.columns, *cells]:
            print(
                "  ".join(
                    cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                    for i, cell in enumerate(row)
                )
            )

    def as_dict(self) -> dict[str, Any]:
        """The table as JSON-ready data: one object per row, keyed by column."""
        return {
            "title": self.title,
            "load_average": self.load,
            "rows": [dict(zip(self.columns, row, strict=False)) for row in self.rows],
        }


MEASUREMENT_COLUMNS = ["case", "wall s", "CPU s", "peak MB", "wall ×", "CPU ×", "verdict"]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN: not applicable to this row
            return "-"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_results(name: str, table: Table, **details: Any) -> Path:
    """Write ``bench/results/NAME.json``: the table, the machine, and any further details."""
    payload = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "table": table.as_dict(),
        **details,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, Measurement):
        return asdict(value)
    return str(value)
