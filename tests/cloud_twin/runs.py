"""Pipeline runs that go on while they are polled, for the fakes of Kubeflow and Vertex AI.

A run goes through its tasks in order, one step each time it is read: the first read finds the
first task running, the next the first done and the second running, and so on; once every task
had its turn the run ends as its ``outcome`` says (a failed run's last task failed), or, with the
outcome ``RUNNING``, stays on its last task for good.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Progression:
    """One run's way through its tasks; states are KFP's names (Vertex AI prefixes them)."""

    tasks: Sequence[str] = ()
    outcome: str = "SUCCEEDED"
    reads: int = field(default=0, init=False)

    def read(self) -> tuple[str, dict[str, str]]:
        """The run's state and its tasks' states at this read; the next read is a step further."""
        step = min(self.reads, len(self.tasks))
        self.reads += 1
        if step < len(self.tasks) or self.outcome == "RUNNING":
            current = min(step, len(self.tasks) - 1)
            states = {
                name: "SUCCEEDED" if i < current else "RUNNING" if i == current else "PENDING"
                for i, name in enumerate(self.tasks)
            }
            return "RUNNING", states
        states = dict.fromkeys(self.tasks, "SUCCEEDED")
        if self.outcome == "FAILED" and self.tasks:
            states[self.tasks[-1]] = "FAILED"
        return self.outcome, states
