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
  column nulls, distinct count, min/max/mean/std, a histogram on the column's aligned grid
  (``mlops_kit.stats.Bins``) and quantiles interpolated in it, top-50 categories) and diff (the
  histograms re-counted on common bins with ``mlops_kit.stats.aligned``; for text where numbers
  were, the values that do not parse and a histogram of the rest on the reference's bins;
  PSI/KS/Jensen–Shannon with the kit's arithmetic). pandas has no HyperLogLog, so its numeric
  distinct counts are exact.

Goals: diff within 2× of one scan, and ≥ 10× faster than pandas computing the same statistics
from the two files. The table also sets the kit's profile + diff against pandas: the profiles are
computed once, when a version is snapshotted, and every later diff reads them.

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
        [kit.warehouse.file(data.get_version(kit, f"bench@{n}").storage) for n in (1, 2)]
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
                entry |= {"kind": "numeric", "min": lo, "max": hi}
                entry |= {"mean": column.mean(), "std": column.std()}
                bins = stats.Bins.covering(lo, hi, integer=column.dtype.kind == "i")
                histogram = _histogram(np, column, bins)
                entry |= {"histogram": histogram, "quantiles": stats.quantiles(histogram)}
            else:
                counts = column.value_counts()
                entry |= {"kind": "categorical", "top": list(counts.head(stats.TOP_K).items())}
                entry["other"] = int(counts.sum()) - sum(n for _, n in entry["top"])  # type: ignore[attr-defined]
            columns[name] = entry
        profiles.append(columns)
    profiled = time.perf_counter() - started
    reference, current = frames
    for name in reference.columns:
        column, ref, cur = current[name], profiles[0][name], profiles[1][name]
        if "histogram" in ref:
            pair = (
                stats.aligned(ref["histogram"], cur["histogram"])  # type: ignore[arg-type]
                if "histogram" in cur
                else None
            )
            if pair is None:
                # Text where the reference has numbers: count what does not parse, bin the rest.
                parsed = pd.to_numeric(column, errors="coerce")
                int((parsed.isna() & column.notna()).sum())
                bins = stats.Bins.of(ref["histogram"])  # type: ignore[arg-type]
                pair = (ref["histogram"], _histogram(np, parsed, bins))  # type: ignore[assignment]
            stats.column_drift(ref, cur, pair)
        else:
            stats.column_drift(ref, cur)
    return profiled


def _histogram(np, column, bins) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The kit's histogram shape on ``bins``, values outside counted apart."""
    values = column.dropna().to_numpy(dtype="float64")
    below, above = int((values < bins.lo).sum()), int((values >= bins.hi).sum())
    inside = values[(values >= bins.lo) & (values < bins.hi)]
    index = np.floor(inside / bins.width).astype("int64") - round(bins.lo / bins.width)
    counts = np.bincount(index, minlength=bins.count)
    return {
        "lo": bins.lo,
        "hi": bins.hi,
        "width": bins.width,
        "counts": counts.tolist(),
        "below": below,
        "above": above,
    }


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
            "pandas_over_diff": pandas_total / diff,
            "pandas_over_profile_and_diff": speedup,
            "pandas_goal_met": pandas_total / diff >= 10,
        }
        print(
            f"pandas (same statistics from the files) / kit: diff {pandas_total / diff:.1f}× "
            f"(goal ≥ 10×), profile {pandas_profile / profile:.1f}×, profile + diff {speedup:.1f}×"
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
