"""How long `mlops-kit --help` and `mlops-kit models versions --help` take to start.

Goal: each ≤ 0.2 CPU-seconds (user + system of the process). Each command runs ``--runs`` times in
a fresh process after one warm-up run (file cache); the table shows the medians, wall and CPU, and
both as multiples of the interpreter's own start (``python -c pass``).

Usage: python bench/cli_startup.py [--runs N] — prints a table and writes
bench/results/cli_startup.json.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import measure

GOAL_CPU_SECONDS = 0.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    script = shutil.which("mlops-kit") or str(Path(sys.executable).with_name("mlops-kit"))
    cases = {
        "python -c pass (interpreter floor)": [sys.executable, "-c", "pass"],
        "mlops-kit --help": [script, "--help"],
        "mlops-kit models versions --help": [script, "models", "versions", "--help"],
        "mlops-kit --version": [script, "--version"],
    }
    table = measure.Table(
        f"CLI start, median of {args.runs} runs (goal: --help commands ≤ {GOAL_CPU_SECONDS} CPU s)",
        measure.MEASUREMENT_COLUMNS,
    )
    results = {}
    for name, command in cases.items():
        results[name] = measure.median(measure.run_many(command, args.runs))
    floor = results["python -c pass (interpreter floor)"]
    for name, row in results.items():
        table.add_measurement(name, row, floor)
        if "--help" in name:
            table.rows[-1].append(measure.verdict(row.cpu_s, "<=", GOAL_CPU_SECONDS))
    table.show()
    measure.write_results("cli_startup", table, runs=args.runs, goal_cpu_s=GOAL_CPU_SECONDS)


if __name__ == "__main__":
    main()
