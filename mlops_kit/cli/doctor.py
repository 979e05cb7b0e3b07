"""``mlops-kit doctor``: check every role of the environment."""

from __future__ import annotations

import typer

from mlops_kit.cli.output import (
    FormatOption,
    OutputFormat,
    console,
    print_result,
    status_mark,
    table,
)
from mlops_kit.cli.state import state
from mlops_kit.errors import BackendError


def doctor(
    ctx: typer.Context,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Check that every role of the environment works (creates the local twin on first use)."""
    from dataclasses import asdict

    from mlops_kit.doctor import run_checks

    kit = state(ctx).kit()
    results = run_checks(kit)
    rows = [(r.role, status_mark(r.ok), r.uri, r.detail) for r in results]
    title = f"environment {kit.environment.name}"
    print_result(
        output,
        {"environment": kit.environment.name, "roles": [asdict(r) for r in results]},
        lambda: console.print(table(title, ["role", "status", "uri", "detail"], rows)),
    )
    broken = [r for r in results if not r.ok]
    if broken:
        names = ", ".join(r.role for r in broken)
        raise BackendError(
            f"{len(broken)} role(s) broken: {names}; {broken[0].role}: {broken[0].detail}"
        )
