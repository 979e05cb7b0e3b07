"""Profile and diff of two dataset versions on the local twin, against one DuckDB scan and pandas.

Two versions of ROWS rows × 25 columns (15 numeric, 10 categorical; the second version drifts in a
few columns and has text in one numeric column) are snapshotted on the local twin. Each step runs in
its own process so that its peak memory (max RSS) is its own; imports happen before the clock:

- ``snapshot``: ``mlops_kit.data.snapshot`` of both files (staging, fingerprint and profile);
- ``scan``: DuckDB reads every value of both stored versions once (``max(x + 0)`` of each number,
  ``max(length(s))`` of each text: a plain ``min`` of a number is answered from Parquet statistics
  without reading the column) — the floor;
- ``profile``: ``mlops_kit.stats.profile`` of both stored versions — what ``snapshot`` spends to
  profile, measured apart;
- ``diff``: ``mlops_kit.data.diff`` of the two versions, whose profiles are stored;
- ``pandas``: the same statistics in pandas, timed in two phases. Profile (read both files; per
  column nulls, distinct count, min/max/mean/std, a 100-bin histogram on the column's own range and
  quantiles interpolated in it, top-50 categories) and diff (text-in-numeric counts, the current
  column's histogram on the reference's bins, PSI/KS/Jensen–Shannon with the kit's arithmetic).
  pandas has no HyperLogLog, so its numeric distinct counts are exact.

Goals: diff within 2× of one scan, and profile + diff ≥ 10× faster than pandas.

Usage: python bench/data_profile_diff.py [--rows N] [--repeat N] [--skip-pandas]
— prints a table and writes bench/results/data_profile_diff.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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

    Imports, opening the kit (metadata schema check) and compiling a first query happen before the
    clock starts: they are a fixed cost of a process, not of the work measured.
    """
    import duckdb
    import ibis
    import numpy  # noqa: F401
    import pandas  # noqa: F401

    from mlops_kit import data, stats

    kit = _kit(workdir)
    kit.metadata.check()
    ibis.to_sql(ibis.table({"x": "int64"}, name="t").x.sum(), dialect="duckdb")
    # The stored versions' files: what profile and diff read.
    stored = (
        [Path(data.get_version(kit, f"bench@{n}").storage) for n in (1, 2)]
        if name in ("scan", "profile")
        else []
    )
    result: dict[str, float] = {}
    started = time.perf_counter()
    if name == "snapshot":
        for file in ("v1.parquet", "v2.parquet"):
            data.snapshot(kit, "bench", path=workdir / file)
    elif name == "scan":
        with duckdb.connect() as connection:
            for path in stored:
                columns = connection.execute(f"DESCRIBE SELECT * FROM '{path}'").fetchall()
                reads = ", ".join(
                    f'max(length("{c[0]}"))' if c[1] == "VARCHAR" else f'max("{c[0]}" + 0)'
                    for c in columns
                )
                connection.execute(f"SELECT count(*), {reads} FROM '{path}'").fetchall()
    elif name == "profile":
        for path in stored:
            stats.profile(kit.warehouse, kit.warehouse.table(str(path)))
    elif name == "diff":
        diff = data.diff(kit, "bench@1", "bench@2")
        assert diff.summary["conformance"][f"n{NUMERIC - 1}"]["nonconforming"] > 0
    elif name == "pandas":
        result["profile_seconds"] = pandas_statistics(workdir)
    elapsed = time.perf_counter() - started
    kit.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result | {"seconds": elapsed, "peak_mb": peak}


def pandas_statistics(workdir: Path) -> float:
    """The kit's profile and diff statistics in pandas; returns the seconds the profile phase took."""
    import numpy as np
    import pandas as pd

    from mlops_kit import stats

    started = time.perf_counter()
    frames = [pd.read_parquet(workdir / f) for f in ("v1.parquet", "v2.parquet")]
    profiles: list[dict[str, dict[str, object]]] = []
    for frame in frames:
        columns: dict[str, dict[str, object]] = {}
        for name in frame.columns:
            column = frame[name]
            entry: dict[str, object] = {
                "nulls": int(column.isna().sum()),
                "distinct": column.nunique(),
            }
            if column.dtype.kind in "if":
                lo, hi = float(column.min()), float(column.max())
                entry |= {"min": lo, "max": hi, "mean": column.mean(), "std": column.std()}
                histogram = _histogram(np, column, lo, hi)
                entry |= {"histogram": histogram, "quantiles": stats.quantiles(histogram)}
            else:
                counts = column.value_counts()
                entry |= {"top": list(counts.head(stats.TOP_K).items())}
                entry["other"] = int(counts.sum()) - sum(n for _, n in entry["top"])  # type: ignore[attr-defined]
            columns[name] = entry
        profiles.append(columns)
    profiled = time.perf_counter() - started
    reference, current = frames
    for name in reference.columns:
        column, ref = current[name], profiles[0][name]
        if "histogram" in ref:
            if column.dtype.kind not in "if":
                # Text where the reference has numbers: count what does not parse.
                parsed = pd.to_numeric(column, errors="coerce")
                int((parsed.isna() & column.notna()).sum())
                column = parsed
            histogram = _histogram(np, column, ref["min"], ref["max"])  # type: ignore[arg-type]
            stats.psi(ref["histogram"], histogram)  # type: ignore[arg-type]
            stats.ks(ref["histogram"], histogram)  # type: ignore[arg-type]
        else:
            cur = profiles[1][name]
            stats.jensen_shannon(ref["top"], ref["other"], cur["top"], cur["other"])  # type: ignore[arg-type]
    return profiled


def _histogram(np, column, lo: float, hi: float) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The kit's histogram shape: BINS equal-width bins over [lo, hi] plus out-of-range counts."""
    from mlops_kit import stats

    values = column.dropna().to_numpy(dtype="float64")
    counts, _ = np.histogram(values, bins=stats.BINS, range=(lo, hi))
    below, above = int((values < lo).sum()), int((values > hi).sum())
    return {"lo": lo, "hi": hi, "counts": counts.tolist(), "below": below, "above": above}


def _run(name: str, workdir: Path) -> dict[str, float]:
    run = subprocess.run(
        [sys.executable, __file__, "--step", name, "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode:
        sys.exit(f"step {name} failed:\n{run.stderr}")
    return json.loads(run.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="runs of scan, profile and diff")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(step(args.step, args.workdir)))
        return
    results: dict[str, dict[str, Any]] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-data-") as directory:
        workdir = Path(directory)
        started = time.perf_counter()
        generate(workdir, args.rows)
        print(
            f"generated 2 × {args.rows:,} rows × 25 columns in {time.perf_counter() - started:.1f} s"
        )
        steps = ["snapshot", "scan", "profile", "diff"] + ([] if args.skip_pandas else ["pandas"])
        for name in steps:
            # The cheap steps run --repeat times (median kept): a shared machine is noisy.
            runs = [
                _run(name, workdir)
                for _ in range(args.repeat if name in ("scan", "profile", "diff") else 1)
            ]
            results[name] = {
                "seconds": statistics.median(run["seconds"] for run in runs),
                "peak_mb": max(run["peak_mb"] for run in runs),
                "runs": [run["seconds"] for run in runs],
            } | {key: value for key, value in runs[0].items() if key == "profile_seconds"}
    scan = results["scan"]["seconds"]
    profile, diff = results["profile"]["seconds"], results["diff"]["seconds"]
    print(f"{'step':16} {'wall s':>9} {'peak MB':>9} {'× scan':>8}")
    rows: list[tuple[str, float, float]] = [
        (name, row["seconds"], row["peak_mb"]) for name, row in results.items()
    ]
    rows.insert(4, ("profile + diff", profile + diff, float("nan")))
    if "pandas" in results:
        pandas = results["pandas"]
        rows[-1:] = [
            ("pandas profile", pandas["profile_seconds"], float("nan")),
            ("pandas diff", pandas["seconds"] - pandas["profile_seconds"], float("nan")),
            ("pandas total", pandas["seconds"], pandas["peak_mb"]),
        ]
    for name, seconds, peak in rows:
        print(f"{name:16} {seconds:9.2f} {peak:9.0f} {seconds / scan:8.2f}")
    summary = {
        "rows_per_version": args.rows,
        "columns": 1 + NUMERIC + CATEGORICAL - 1,
        "steps": results,
        # 1-minute load average of the 2-core machine before and after: above 2, others were busy.
        "load_average": [load_before[0], os.getloadavg()[0]],
        "diff_over_scan": diff / scan,
        "diff_goal_met": diff <= 2 * scan,
    }
    print(f"diff / scan = {diff / scan:.2f} (goal ≤ 2)")
    if "pandas" in results:
        pandas_total = results["pandas"]["seconds"]
        pandas_profile = results["pandas"]["profile_seconds"]
        speedup = pandas_total / (profile + diff)
        summary |= {
            "pandas_profile_over_profile": pandas_profile / profile,
            "pandas_diff_over_diff": (pandas_total - pandas_profile) / diff,
            "pandas_over_profile_and_diff": speedup,
            "pandas_goal_met": speedup >= 10,
        }
        print(
            f"pandas / kit: profile {pandas_profile / profile:.1f}×, "
            f"diff {(pandas_total - pandas_profile) / diff:.1f}×, "
            f"profile + diff {speedup:.1f}× (goal ≥ 10×)"
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
