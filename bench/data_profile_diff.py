"""Profile and diff of two dataset versions on the local twin, against one DuckDB scan and pandas.

Two versions of ROWS rows × 25 columns (15 numeric, 10 categorical; the second version drifts in a
few columns and has text in one numeric column) are snapshotted on the local twin. Each step runs in
its own process so that its peak memory (max RSS) is its own:

- ``scan``: DuckDB reads every column of both versions once (``min`` of each column) — the floor;
- ``profile``: ``mlops_kit.data.profile`` of both versions (computed and stored);
- ``diff``: ``mlops_kit.data.diff`` of the two versions with stored profiles;
- ``pandas``: the same statistics in pandas (read both files, then nulls, distinct, min/max/mean/
  std/quantiles, 100-bin histograms on the reference range, top categories, text-in-numeric counts).

Goals: diff within 2× of one scan, and ≥ 10× faster than pandas.

Usage: python bench/data_profile_diff.py [--rows N] [--skip-pandas]
— prints a table and writes bench/results/data_profile_diff.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NUMERIC, CATEGORICAL = 15, 10


def generate(directory: Path, rows: int) -> tuple[Path, Path]:
    import duckdb

    def columns(shifted: bool) -> str:
        parts = ["range AS id"]
        for i in range(NUMERIC):
            scale = 1.3 if shifted and i < 3 else 1.0
            if i % 3 == 0:
                parts.append(f"(random() * {1000 * scale})::BIGINT AS n{i}")
            else:
                parts.append(f"random() * {100 * scale} + {i} AS n{i}")
        for i in range(CATEGORICAL - 1):
            size = 5 * (i + 1) ** 2
            extra = 3 if shifted and i == 0 else 0
            parts.append(f"'c' || ((random() * {size + extra})::INT)::VARCHAR AS c{i}")
        return ", ".join(parts)

    first, second = directory / "v1.parquet", directory / "v2.parquet"
    with duckdb.connect() as connection:
        connection.execute(f"COPY (SELECT {columns(False)} FROM range({rows})) TO '{first}'")
        # The data-prep bug: text in numeric column n14 (kept as text in the file).
        second_columns = columns(True).replace(
            f"random() * 100.0 + 14 AS n{NUMERIC - 1}",
            f"CASE WHEN range % 1000 = 0 THEN 'unknown' ELSE (random() * 100 + 14)::VARCHAR END "
            f"AS n{NUMERIC - 1}",
        )
        connection.execute(f"COPY (SELECT {second_columns} FROM range({rows})) TO '{second}'")
    return first, second


def _kit(workdir: Path):  # type: ignore[no-untyped-def]
    from mlops_kit.kit import Kit

    return Kit.open(
        "local",
        warehouse=f"duckdb://{workdir / 'warehouse.duckdb'}",
        metadata=f"sqlite:///{workdir / 'metadata.db'}",
    )


def step(name: str, workdir: Path) -> dict[str, float]:
    """Run one measured step in this process; return wall time and peak memory.

    Imports and opening the kit (metadata schema check) happen before the clock starts: they are a
    fixed cost of a process, not of the work measured.
    """
    import duckdb

    from mlops_kit import data

    kit = _kit(workdir)
    kit.metadata.check()
    started = time.perf_counter()
    if name == "snapshot":
        for file in ("v1.parquet", "v2.parquet"):
            data.snapshot(kit, "bench", path=workdir / file)
    elif name == "scan":
        with duckdb.connect() as connection:
            for file in ("v1.parquet", "v2.parquet"):
                columns = connection.execute(
                    f"DESCRIBE SELECT * FROM '{workdir / file}'"
                ).fetchall()
                mins = ", ".join(f'min("{c[0]}")' for c in columns)
                connection.execute(f"SELECT count(*), {mins} FROM '{workdir / file}'").fetchall()
    elif name == "profile":
        data.profile(kit, "bench@1")
        data.profile(kit, "bench@2")
    elif name == "diff":
        result = data.diff(kit, "bench@1", "bench@2")
        assert result.summary["conformance"][f"n{NUMERIC - 1}"]["nonconforming"] > 0
    elif name == "pandas":
        pandas_statistics(workdir)
    elapsed = time.perf_counter() - started
    kit.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": elapsed, "peak_mb": peak}


def pandas_statistics(workdir: Path) -> None:
    import numpy as np
    import pandas as pd

    frames = [pd.read_parquet(workdir / f) for f in ("v1.parquet", "v2.parquet")]
    reference = frames[0]
    for frame in frames:
        for name in frame.columns:
            column = frame[name]
            column.isna().mean()
            column.nunique()
            numeric = column if column.dtype.kind in "if" else None
            if numeric is None and reference[name].dtype.kind in "if":
                # Text where the reference has numbers: count what does not parse.
                parsed = pd.to_numeric(column, errors="coerce")
                int((parsed.isna() & column.notna()).sum())
                numeric = parsed
            if numeric is not None:
                numeric.min(), numeric.max(), numeric.mean(), numeric.std()
                numeric.quantile([0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99])
                lo, hi = reference[name].min(), reference[name].max()
                np.histogram(numeric.dropna(), bins=100, range=(lo, hi))
            else:
                column.value_counts().head(50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(step(args.step, args.workdir)))
        return
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-data-") as directory:
        workdir = Path(directory)
        started = time.perf_counter()
        generate(workdir, args.rows)
        print(
            f"generated 2 × {args.rows:,} rows × 25 columns in {time.perf_counter() - started:.1f} s"
        )
        steps = ["snapshot", "scan", "profile", "diff"] + ([] if args.skip_pandas else ["pandas"])
        for name in steps:
            run = subprocess.run(
                [sys.executable, __file__, "--step", name, "--workdir", str(workdir)],
                capture_output=True,
                text=True,
                check=False,
            )
            if run.returncode:
                sys.exit(f"step {name} failed:\n{run.stderr}")
            output = run.stdout
            results[name] = json.loads(output.strip().splitlines()[-1])
    scan = results["scan"]["seconds"]
    print(f"{'step':10} {'wall s':>9} {'peak MB':>9} {'× scan':>8}")
    for name, row in results.items():
        print(f"{name:10} {row['seconds']:9.2f} {row['peak_mb']:9.0f} {row['seconds'] / scan:8.2f}")
    diff = results["diff"]["seconds"]
    summary = {
        "rows_per_version": args.rows,
        "columns": 1 + NUMERIC + CATEGORICAL - 1,
        "steps": results,
        "diff_over_scan": diff / scan,
        "diff_goal_met": diff <= 2 * scan,
    }
    print(f"diff / scan = {diff / scan:.2f} (goal ≤ 2)")
    if "pandas" in results:
        # pandas computes every statistic of both versions; the kit's diff reads stored profiles,
        # so both ratios are shown: diff alone, and profiling both versions plus the diff.
        pandas = results["pandas"]["seconds"]
        speedup = pandas / (results["profile"]["seconds"] + diff)
        summary |= {
            "pandas_over_diff": pandas / diff,
            "pandas_over_profile_and_diff": speedup,
            "pandas_goal_met": speedup >= 10,
        }
        print(
            f"pandas / diff = {pandas / diff:.1f}×, pandas / (profile + diff) = {speedup:.1f}× (goal ≥ 10×)"
        )
    out = (
        Path(__file__).with_name("results")
        / f"data_profile_diff{'' if args.rows == 10_000_000 else f'_{args.rows}'}.json"
    )
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
