"""Time of `mlops-kit new`, and of each training-pipeline step on the local twin.

Usage: python bench/pipelines_steps.py [--rows 100000] [--new-runs 3]
Prints a table and writes bench/results/pipelines_steps.json. Each step is one kfp.local task: a
fresh subprocess of this interpreter, so its time includes importing the kit and its libraries.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import measure

from mlops_kit.environments import Workspace, resolve_environment
from mlops_kit.kit import Kit
from mlops_kit.pipelines.demo import write_demo_data
from mlops_kit.pipelines.project import PipelineProject


def time_new(base: Path, runs: int) -> list[measure.Measurement]:
    script = shutil.which("mlops-kit") or str(Path(sys.executable).with_name("mlops-kit"))
    return [
        measure.run([script, "new", f"bench-new-{index}"], cwd=base)[0] for index in range(runs)
    ]


def time_steps(
    base: Path, rows: int
) -> tuple[dict[str, measure.Measurement], measure.Measurement, str]:
    subprocess.run(
        [
            shutil.which("mlops-kit") or str(Path(sys.executable).with_name("mlops-kit")),
            "new",
            "bench-steps",
        ],
        cwd=base,
        check=True,
        capture_output=True,
    )
    workspace = Workspace.discover(base / "bench-steps", environ={})
    project = PipelineProject.discover(workspace=workspace)
    write_demo_data(project.root / project.config("local").source, rows=rows)
    started_at: dict[str, tuple[float, float]] = {}
    durations: dict[str, measure.Measurement] = {}

    def on_task(task: str, state: str) -> None:
        # Each task is a child process of this one: its CPU time lands in RUSAGE_CHILDREN.
        now = (time.perf_counter(), measure.cpu_seconds())
        if state == "RUNNING":
            started_at[task] = now
        else:
            wall, cpu = started_at[task]
            durations[task] = measure.Measurement(now[0] - wall, now[1] - cpu)

    environment = resolve_environment("local", workspace=workspace, environ={})
    with Kit(environment) as kit, measure.measured() as total:
        run = project.submit(kit, on_task=on_task)
    if run.state != "SUCCEEDED":
        raise SystemExit(f"the pipeline failed: {run.error}")
    return durations, total, str(run.outputs.get("Output"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--new-runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pipelines-") as scratch:
        base = Path(scratch)
        new_timings = time_new(base, args.new_runs)
        steps, total, decision = time_steps(base, args.rows)
    table = measure.Table(
        f"Project scaffold and training pipeline on the local twin ({args.rows:,} rows)",
        ["case", "wall s", "CPU s"],
    )
    new = measure.median(new_timings)
    table.add(f"mlops-kit new (median of {args.new_runs})", new.wall_s, new.cpu_s)
    for task, step in steps.items():
        table.add(f"step {task}", step.wall_s, step.cpu_s)
    table.add(f"whole pipeline, {args.rows:,} rows", total.wall_s, total.cpu_s)
    table.show()
    measure.write_results(
        "pipelines_steps",
        table,
        rows=args.rows,
        new=new,
        steps=steps,
        pipeline=total,
        decision=json.loads(decision),
    )


if __name__ == "__main__":
    main()
