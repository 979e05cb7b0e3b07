"""Time of `mlops-kit new`, and of each training-pipeline step on the local twin.

Usage: python bench/pipelines_steps.py [--rows 100000] [--new-runs 3]
Prints a table and writes bench/results/pipelines_steps.json. Each step is one kfp.local task: a
fresh subprocess of this interpreter, so its time includes importing the kit and its libraries.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlops_kit.environments import Workspace, resolve_environment
from mlops_kit.kit import Kit
from mlops_kit.pipelines.demo import write_demo_data
from mlops_kit.pipelines.project import PipelineProject


def time_new(base: Path, runs: int) -> list[float]:
    script = shutil.which("mlops-kit") or str(Path(sys.executable).with_name("mlops-kit"))
    timings = []
    for index in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [script, "new", f"bench-new-{index}"], cwd=base, check=True, capture_output=True
        )
        timings.append(time.perf_counter() - started)
    return timings


def time_steps(base: Path, rows: int) -> tuple[dict[str, float], float, str]:
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
    started_at: dict[str, float] = {}
    durations: dict[str, float] = {}

    def on_task(task: str, state: str) -> None:
        now = time.perf_counter()
        if state == "RUNNING":
            started_at[task] = now
        else:
            durations[task] = now - started_at[task]

    environment = resolve_environment("local", workspace=workspace, environ={})
    with Kit(environment) as kit:
        started = time.perf_counter()
        run = project.submit(kit, on_task=on_task)
        total = time.perf_counter() - started
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
    print(f"{'case':36} {'seconds':>9}")
    print(
        f"{'mlops-kit new (median of ' + str(args.new_runs) + ')':36} {statistics.median(new_timings):9.2f}"
    )
    for task, seconds in steps.items():
        print(f"{'step ' + task:36} {seconds:9.2f}")
    print(f"{'whole pipeline, ' + format(args.rows, ',') + ' rows':36} {total:9.2f}")
    out = Path(__file__).with_name("results") / "pipelines_steps.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "rows": args.rows,
                "machine": {
                    "python": platform.python_version(),
                    "cpus": __import__("os").cpu_count(),
                },
                "new_s": {"median": statistics.median(new_timings), "runs": new_timings},
                "steps_s": steps,
                "pipeline_s": total,
                "decision": json.loads(decision),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
