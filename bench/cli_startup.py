"""How long `mlops-kit --help` takes to start (goal: under 0.5 s), and what the CLI imports.

Usage: python bench/cli_startup.py [--runs N] — prints a table and writes bench/results/cli_startup.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOAL_SECONDS = 0.5


def time_command(command: list[str], runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    script = shutil.which("mlops-kit") or str(Path(sys.executable).with_name("mlops-kit"))
    cases = {
        "python -c pass (interpreter floor)": [sys.executable, "-c", "pass"],
        "mlops-kit --help": [script, "--help"],
        "mlops-kit --version": [script, "--version"],
    }
    results = {}
    for name, command in cases.items():
        time_command(command, 1)  # warm the file cache
        timings = time_command(command, args.runs)
        results[name] = {"median_s": statistics.median(timings), "max_s": max(timings)}
    print(f"{'case':40} {'median s':>10} {'max s':>10}")
    for name, row in results.items():
        print(f"{name:40} {row['median_s']:10.3f} {row['max_s']:10.3f}")
    help_median = results["mlops-kit --help"]["median_s"]
    verdict = "meets" if help_median < GOAL_SECONDS else "MISSES"
    print(f"--help median {help_median:.3f} s {verdict} the {GOAL_SECONDS} s goal")
    out = Path(__file__).with_name("results") / "cli_startup.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps({"goal_s": GOAL_SECONDS, "runs": args.runs, "results": results}, indent=2)
    )


if __name__ == "__main__":
    main()
