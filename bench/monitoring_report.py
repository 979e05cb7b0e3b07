"""Monitoring report benchmark: the kit on the local twin vs pandas vs Evidently, same data.

N logged predictions x 20 features (15 numeric, 5 categorical) with ground truth and a 200 k-row
training set. Measured, each in a fresh process, from its start to its end (imports and reading
included): wall time, CPU time (user + system, its children included) and peak resident memory:

- scan: one DuckDB scan of every column the report reads (log, ground truth, training data) — the
  physical limit, and the reference of the ``×`` columns;
- kit: ``build_report`` with slices hour_of_day and one categorical feature — sliced metrics with
  intervals, coverage, drift and health, all in DuckDB, on the log as the logger writes it;
- pandas: the same sliced metrics plus PSI/KS per numeric feature on flat columns (1 M rows only);
- Evidently (current release, separate venv ``bench/.venv-evidently`` because it needs pandas<3):
  DataDriftPreset + ClassificationPreset on the flat Parquet (1 M rows).

PSI binning differs by method and is stated in the output: the kit groups the reference's
histogram bins (≤ 200 on an aligned grid, see ``mlops_kit.stats``) into ≈ reference deciles;
Evidently uses equal-width bins over the combined data. KS: the kit's is binned, pandas' is exact;
both statistics are compared.

Usage: ``python bench/monitoring_report.py [--rows 1000000 10000000 100000000]
[--skip-evidently]``; 100 M rows (out of core: about 10 GB of Parquet in ``bench/.work-monitoring``)
take a while to generate and are left out unless asked for.
Writes ``bench/results/monitoring_report.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import measure

ROOT = Path(__file__).resolve().parent
WORK = ROOT / ".work-monitoring"
EVIDENTLY_VENV = ROOT / ".venv-evidently"
END = datetime(2026, 11, 20, tzinfo=UTC)
NUMERIC = [f"n{i}" for i in range(15)]
CATEGORICAL = [f"c{i}" for i in range(5)]


def _uniform(salt: int) -> str:
    """A uniform value in [0, 1) that row ``i`` always gets (so every file agrees on it)."""
    return f"((hash(i, {salt}) % 1000000) / 1000000.0)"


def generate(rows: int) -> Path:
    """Write the prediction log, ground truth, training data and (up to 1 M rows) a flat copy.

    The log is laid out as the kit's logger writes it on the local twin: the features as a STRUCT
    of typed fields. Every value is a function of the row number, so each file is written by its
    own streaming ``COPY`` and nothing is held in memory: 100 M rows generate out of core.
    """
    import duckdb

    folder = WORK / f"rows-{rows}"
    if (folder / "done").exists():
        return folder
    (folder / "twin" / "prediction_log" / "d").mkdir(parents=True, exist_ok=True)
    (folder / "twin" / "ground_truth" / "d").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    start = int((END - timedelta(days=7)).timestamp())
    numeric = ", ".join(
        f"{_uniform(i)} * 10 + {i} + (hash(i * {i + 3}) % 3) AS n{i}" for i in range(15)
    )
    categorical = ", ".join(
        f"'v' || (hash(i * {i + 7}) % {5 + i * 3})::VARCHAR AS c{i}" for i in range(5)
    )
    # Accurate during the day (the label follows the score), a coin toss at night.
    live = f"""(SELECT *, (score >= 0.5)::INT::VARCHAR AS prediction,
        CASE WHEN hour(logged_at) BETWEEN 9 AND 17 THEN ({_uniform(100)} < score)
             ELSE ({_uniform(101)} < 0.5) END::INT::VARCHAR AS label
        FROM (SELECT i, to_timestamp({start} + (i * 604800 // {rows})) AS logged_at,
              'r' || i::VARCHAR AS request_id, {numeric}, {categorical},
              {_uniform(99)} AS score FROM range({rows}) t(i)))"""
    if rows <= 1_000_000:  # for pandas and Evidently, which run at 1 M rows
        con.execute(f"COPY (SELECT * EXCLUDE (i) FROM {live}) TO '{folder}/flat.parquet'")
    features = ", ".join(f"'{c}': {c}" for c in NUMERIC + CATEGORICAL)
    con.execute(
        f"""COPY (SELECT logged_at, 'm' AS model_name, 1::BIGINT AS model_version, request_id,
            {{{features}}} AS features, prediction, score FROM {live})
            TO '{folder}/twin/prediction_log/d/log.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT request_id, label, logged_at FROM {live})
            TO '{folder}/twin/ground_truth/d/truth.parquet' (FORMAT parquet)"""
    )
    # The training data lacks the live data's hash-driven shift, and is spread smoothly over
    # the values, so every numeric feature drifts a little.
    training_numeric = ", ".join(f"random() * 10 + {i} + {i % 3} * 0.4 AS n{i}" for i in range(15))
    con.execute(
        f"""COPY (SELECT to_timestamp({start} - 2592000 + (i * 604800 // 200000)) AS event_time,
            {training_numeric}, {categorical}, (random() < 0.5)::INT::VARCHAR AS label
            FROM range(200000) t(i)) TO '{folder}/training.parquet' (FORMAT parquet)"""
    )
    (folder / "done").write_text("ok")
    return folder


def run_kit(folder: Path) -> dict:
    from mlops_kit.kit import Kit
    from mlops_kit.monitoring import WatchedModel, Window, build_report

    kit = Kit.open(
        warehouse=f"duckdb:///{folder}/twin/warehouse.duckdb",
        metadata=f"sqlite:///{folder}/metadata.db",
        artifacts=f"file://{folder}/artifacts",
    )
    model = WatchedModel("m", 1, training_location=str(folder / "training.parquet"))
    start = time.perf_counter()
    report = build_report(
        kit, model, window=Window.last(timedelta(days=8), END), slices=["hour_of_day", "c0"]
    )
    return {
        "compute_seconds": time.perf_counter() - start,
        "labelled": report.labelled,
        "psi": {k: v["psi"] for k, v in report.drift.items() if "psi" in v},
        "ks": {k: v["ks"] for k, v in report.drift.items() if "ks" in v},
        "accuracy_by_hour": {
            s.value: s.metrics["accuracy"].value for s in report.slices if s.column == "hour_of_day"
        },
    }


def run_pandas(folder: Path) -> dict:
    import numpy as np
    import pandas as pd

    from mlops_kit.stats import Bins

    start = time.perf_counter()
    live = pd.read_parquet(folder / "flat.parquet")
    training = pd.read_parquet(folder / "training.parquet")
    live["hour"] = live.logged_at.dt.hour
    live["correct"] = live.prediction == live.label
    by_hour = live.groupby("hour").correct.mean()
    psi, ks = {}, {}
    for name in NUMERIC:
        ref, cur = training[name].to_numpy(), live[name].to_numpy()
        # The kit's stated binning: exact reference deciles inside the range of the reference's
        # histogram bins, plus one bin below it and one above; shares floored at 1e-4.
        bins = Bins.covering(float(ref.min()), float(ref.max()))
        edges = np.array([bins.lo, *np.quantile(ref, np.linspace(0.1, 0.9, 9)), bins.hi])

        def shares(values: np.ndarray, edges: np.ndarray = edges) -> np.ndarray:
            inside = np.histogram(values[(values >= edges[0]) & (values < edges[-1])], edges)[0]
            counts = [np.sum(values < edges[0]), *inside, np.sum(values >= edges[-1])]
            return np.maximum(np.asarray(counts) / len(values), 1e-4)

        e, a = shares(ref), shares(cur)
        psi[name] = float(np.sum((a - e) * np.log(a / e)))
        both = np.sort(np.concatenate([ref, cur]))
        cdf_r = np.searchsorted(np.sort(ref), both, side="right") / len(ref)
        cdf_c = np.searchsorted(np.sort(cur), both, side="right") / len(cur)
        ks[name] = float(np.max(np.abs(cdf_r - cdf_c)))
    for name in CATEGORICAL:
        live[name].value_counts()
        live[name].isna().mean()
    return {
        "compute_seconds": time.perf_counter() - start,
        "psi": psi,
        "ks": ks,
        "accuracy_by_hour": {str(k): float(v) for k, v in by_hour.items()},
    }


EVIDENTLY_SCRIPT = r"""
import json, sys, time
import pandas as pd
from evidently import Report, Dataset, DataDefinition, BinaryClassification
from evidently.presets import DataDriftPreset, ClassificationPreset
folder = sys.argv[1]
num = [f"n{i}" for i in range(15)]; cat = [f"c{i}" for i in range(5)]
live = pd.read_parquet(folder + "/flat.parquet")
ref = pd.read_parquet(folder + "/training.parquet")
live["label"] = live.label.astype(int); live["prediction"] = live.score
ref["label"] = ref.label.astype(int); ref["prediction"] = 0.5
definition = DataDefinition(numerical_columns=num, categorical_columns=cat,
    classification=[BinaryClassification(target="label", prediction_probas="prediction")])
cur_ds = Dataset.from_pandas(live[num + cat + ["label", "prediction"]], data_definition=definition)
ref_ds = Dataset.from_pandas(ref[num + cat + ["label", "prediction"]], data_definition=definition)
t = time.perf_counter()
Report([DataDriftPreset(), ClassificationPreset()]).run(cur_ds, ref_ds)
preset_seconds = time.perf_counter() - t
psi = {}
snap = Report([DataDriftPreset(columns=num, method="psi")]).run(cur_ds, ref_ds)
for metric in snap.dict()["metrics"]:
    name = str(metric.get("metric_name", ""))
    value = metric.get("value")
    for column in num:
        if f"column={column})" in name or f"column={column}," in name:
            if isinstance(value, (int, float)):
                psi[column] = float(value)
peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"compute_seconds": preset_seconds, "psi": psi, "peak_kb": int(peak)}))
"""


def run_evidently(folder: Path) -> dict:
    python = EVIDENTLY_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        subprocess.run(
            [
                str(EVIDENTLY_VENV / "bin" / "pip"),
                "install",
                "-q",
                "evidently",
                "pandas<3",
                "pyarrow",
            ],
            check=True,
        )
    completed = subprocess.run(
        [str(python), "-c", EVIDENTLY_SCRIPT, str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-3000:])
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run_scan(folder: Path) -> dict:
    """One DuckDB scan of every column the report reads: the physical limit on this machine.

    Each value is read once (``max(x + 0)`` of a number and ``max(length(s))`` of a text: a plain
    ``min`` or ``max`` would be answered from Parquet statistics without reading the column).
    """
    import duckdb

    def reads(connection: duckdb.DuckDBPyConnection, source: str) -> str:
        described = connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        parts = []
        for column, kind, *_ in described:
            if kind.startswith("STRUCT"):
                fields = connection.execute(
                    f'DESCRIBE SELECT "{column}".* FROM {source}'
                ).fetchall()
                parts += [_read(f'"{column}"."{f}"', k) for f, k, *_ in fields]
            else:
                parts.append(_read(f'"{column}"', kind))
        return ", ".join(parts)

    with duckdb.connect() as connection:
        for source in (
            f"'{folder}/twin/prediction_log/d/*.parquet'",
            f"'{folder}/twin/ground_truth/d/*.parquet'",
            f"'{folder}/training.parquet'",
        ):
            connection.execute(f"SELECT count(*), {reads(connection, source)} FROM {source}")
    return {}


def _read(column: str, kind: str) -> str:
    if kind == "VARCHAR":
        return f"max(length({column}))"
    if kind.startswith("TIMESTAMP"):
        return f"max(epoch({column}))"
    return f"max({column} + 0)"


def measure_kind(kind: str, folder: Path) -> dict:
    """Run one method in a fresh process: its wall and CPU time and its peak resident memory."""
    try:
        measurement, stdout = measure.run([sys.executable, __file__, "--worker", kind, str(folder)])
    except RuntimeError as failure:
        return {"error": str(failure)[-2000:]}
    # The worker's own peak (see measure.run): its VmHWM, or its Evidently child's.
    return asdict(measurement) | json.loads(stdout.strip().splitlines()[-1])


def run_worker(kind: str, folder: Path) -> None:
    """In a worker process: run one implementation and print its result as JSON."""
    run = {"kit": run_kit, "pandas": run_pandas, "evidently": run_evidently, "scan": run_scan}[kind]
    result = run(folder)
    result["peak_mb"] = max(measure.own_peak_mb(), result.pop("peak_kb", 0) / 1024)
    print(json.dumps(result))


def run_all(row_counts: list[int], skip_evidently: bool) -> dict:
    """Measure every implementation at every size, printing one line per run as it ends."""
    runs: dict = {}
    for rows in row_counts:
        folder = generate(rows)
        kinds = ["scan", "kit"] + (["pandas"] if rows <= 1_000_000 else [])
        if rows <= 1_000_000 and not skip_evidently:
            kinds.append("evidently")
        for kind in kinds:
            outcome = measure_kind(kind, folder)
            runs[f"{kind}@{rows}"] = outcome
            print(
                f"{kind:10} {rows:>11,} rows "
                + (
                    f"ERROR {outcome['error'][-300:]}"
                    if "error" in outcome
                    else f"{outcome['wall_s']:8.1f} s wall {outcome['cpu_s']:8.1f} s CPU"
                ),
                flush=True,
            )
    return runs


def agreement(runs: dict) -> dict:
    """How far the kit's PSI and KS are from pandas' and Evidently's at 1 M rows."""
    kit1, pd1 = runs.get("kit@1000000", {}), runs.get("pandas@1000000", {})
    ev = runs.get("evidently@1000000", {})
    found: dict = {}
    if "psi" in kit1 and "psi" in pd1:
        found["max_abs_diff_vs_pandas"] = {
            m: max(abs(kit1[m][c] - pd1[m][c]) for c in NUMERIC) for m in ("psi", "ks")
        }
    if "psi" in kit1 and ev.get("psi"):
        found["max_abs_diff_psi_vs_evidently"] = max(
            abs(kit1["psi"][c] - ev["psi"][c]) for c in NUMERIC if c in ev["psi"]
        )
    return found


def _measurement(run: dict) -> measure.Measurement | None:
    if not run or "error" in run:
        return None
    return measure.Measurement(run["wall_s"], run["cpu_s"], run["peak_mb"])


def fill(table: measure.Table, runs: dict) -> dict[str, bool]:
    """One row per run (× the scan of the same size), then the goals on both times."""
    for key, run in runs.items():
        kind, rows = key.split("@")
        current = _measurement(run)
        if current is not None:
            scan = _measurement(runs.get(f"scan@{rows}", {}))
            table.add_measurement(f"{kind}, {int(rows):,} rows", current, scan)
        else:
            table.add(f"{kind}, {int(rows):,} rows", "failed", "", "", "", "", run["error"][-80:])
    kit = _measurement(runs.get("kit@1000000", {}))
    goals: dict[str, bool] = {}
    if kit is None:
        return goals
    scan, pandas = (
        _measurement(runs.get("scan@1000000", {})),
        _measurement(runs.get("pandas@1000000", {})),
    )
    evidently, kit10 = (
        _measurement(runs.get("evidently@1000000", {})),
        _measurement(runs.get("kit@10000000", {})),
    )
    if evidently is not None:
        goals["Evidently ≥ 30× kit"] = table.add_goal(
            "Evidently ≥ 30× kit", *evidently.over(kit), ">=", 30, "cpu"
        )
        memory = kit.peak_mb / evidently.peak_mb
        goals["kit memory ≤ 1/4 Evidently"] = memory <= 0.25
        table.add(
            "goal kit memory ≤ 0.25× Evidently",
            "",
            "",
            memory,
            "",
            "",
            measure.verdict(memory, "<=", 0.25),
        )
    if pandas is not None:
        goals["pandas ≥ 2× kit"] = table.add_goal(
            "pandas ≥ 2× kit", *pandas.over(kit), ">=", 2, "cpu"
        )
        goals["pandas ≥ 1× kit (wall)"] = table.add_goal(
            "pandas ≥ 1× kit (wall)", *pandas.over(kit), ">=", 1, "wall"
        )
    if scan is not None:
        goals["kit ≤ 5× scan"] = table.add_goal("kit ≤ 5× scan", *kit.over(scan), "<=", 5, "cpu")
    if "kit@100000000" in runs:
        completed = "error" not in runs["kit@100000000"]
        goals["100 M completes out of core"] = completed
        table.add(
            "goal 100 M completes (out of core)",
            "",
            "",
            "",
            "",
            "",
            "met" if completed else "MISSED",
        )
    if kit10 is not None:
        goals["10 M ≤ 8× 1 M"] = table.add_goal("10 M ≤ 8× 1 M", *kit10.over(kit), "<=", 8, "cpu")
    return goals


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--worker", nargs=2)
    args = parser.parse_args()
    if args.worker:
        kind, folder = args.worker
        run_worker(kind, Path(folder))
        return
    table = measure.Table(
        "Monitoring report, 20 features, slices by hour and c0 "
        "(× = multiple of one DuckDB scan of the columns read, same rows)",
        measure.MEASUREMENT_COLUMNS,
    )
    runs = run_all(args.rows, args.skip_evidently)
    goals = fill(table, runs)
    table.show()
    summary = agreement(runs)
    for key, value in summary.items():
        print(f"{key}: {value}")
    measure.write_results("monitoring_report", table, runs=runs, goals_met=goals, **summary)


if __name__ == "__main__":
    main()
