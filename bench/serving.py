"""The prediction server under load on loopback: latency, throughput, logging cost, swaps, memory.

A local twin holds 5,000 rows × 20 features (15 numeric, 5 categorical) and two versions of a
scikit-learn classifier on them (one-hot categories + logistic regression). ``mlops-kit serve`` runs
in a child process, as in production; the load generator runs in this process (keep-alive httpx
clients in threads), one instance per request, as an online client sends them.

1. **Latency**: a server with the prediction log off and one with it on run side by side, and
   one client alternates requests between them (both see the same load of a shared machine),
   after 6 s of warm-up (past the log's first batch); the log's cost is the median over
   ``--rounds`` rounds of the p50 ratio (goal: ≤ 10 %). ``PredictionLogger.log`` is also timed
   alone, in this process. **Throughput**: ``--clients`` clients on each server in turn.
2. **Promote/rollback under load**: ``--cycles`` promotions of version 2 and rollbacks to 1 while
   the clients keep sending; every response must be a 200 naming its version, and after the server
   stops, every request id answered must be in the warehouse's prediction log (0 lost rows).
3. **Soak**: the server's resident memory sampled every second for ``--soak`` seconds of load.

CPU is user + system time of the server process (from /proc) and of this client process. Prints a
table and writes bench/results/serving.json.

Usage: python bench/serving.py [--seconds S] [--clients C] [--rounds R] [--cycles N] [--soak S]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import measure

from mlops_kit import data, models
from mlops_kit.environments import Workspace, resolve_environment
from mlops_kit.kit import Kit
from mlops_kit.serving.process import ServerProcess

MODEL = "bench"
NUMERIC = 15
CATEGORICAL = 5
TICKS = os.sysconf("SC_CLK_TCK")
WARM_UP = 6.0


def frame(rows: int, seed: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {f"x{i}": rng.normal(size=rows) for i in range(NUMERIC)}
    columns |= {f"c{i}": rng.choice(["a", "b", "c", "d"], size=rows) for i in range(CATEGORICAL)}
    logit = columns["x0"] - 0.5 * columns["x1"] + (columns["c0"] == "a")
    columns["label"] = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(columns)


def train(directory: Path, training: Any, c: float) -> Path:
    import joblib
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    categories = [f"c{i}" for i in range(CATEGORICAL)]
    pipeline = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [("categories", OneHotEncoder(handle_unknown="ignore"), categories)],
                    remainder="passthrough",
                ),
            ),
            ("classifier", LogisticRegression(C=c, max_iter=500)),
        ]
    )
    pipeline.fit(training.drop(columns=["label"]), training["label"])
    directory.mkdir(parents=True)
    joblib.dump(pipeline, directory / "model.joblib")
    return directory


def twin(root: Path) -> tuple[Kit, list[dict[str, Any]]]:
    (root / "mlops-kit.yaml").write_text("local_root: .mlops\n", encoding="utf-8")
    kit = Kit(resolve_environment("local", workspace=Workspace.discover(root, environ={})))
    training = frame(5000, seed=1)
    training.to_parquet(root / "training.parquet")
    dataset = data.snapshot(kit, "bench", path=root / "training.parquet").ref
    for version, c in ((1, 1.0), (2, 0.01)):
        models.register(
            kit,
            MODEL,
            train(root / f"model-{version}", training, c),
            lineage=models.Lineage(data=[dataset]),
        )
    models.promote(kit, f"{MODEL}@1", "production", "benchmark")
    traffic = frame(2000, seed=2).drop(columns=["label"])
    return kit, json.loads(traffic.to_json(orient="records"))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system


@dataclass
class Load:
    """Clients sending one instance per request until stopped."""

    url: str
    instances: list[dict[str, Any]]
    clients: int
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    answered: dict[str, int] = field(default_factory=dict)
    """Request id → the version its response named."""
    stopping: threading.Event = field(default_factory=threading.Event)
    versions_seen: list[int] = field(default_factory=list)

    def _client(self, offset: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            i = offset
            while not self.stopping.is_set():
                body = {"instances": [self.instances[i % len(self.instances)]]}
                i += self.clients
                started = time.perf_counter()
                try:
                    response = client.post("/predict", json=body)
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                elapsed = time.perf_counter() - started
                answer = response.json()
                header = response.headers.get("x-model-version")
                if response.status_code != 200 or header != f"{MODEL}@{answer['model_version']}":
                    self.failures.append(f"{response.status_code} {response.text[:200]}")
                    continue
                self.latencies.append(elapsed)
                self.answered[answer["request_ids"][0]] = answer["model_version"]
                self.versions_seen.append(answer["model_version"])

    def run(self, seconds: float | None = None) -> threading.Thread:
        threads = [
            threading.Thread(target=self._client, args=(n,), daemon=True)
            for n in range(self.clients)
        ]
        for thread in threads:
            thread.start()
        waiter = threading.Thread(target=lambda: [t.join() for t in threads], daemon=True)
        waiter.start()
        if seconds is not None:
            time.sleep(seconds)
            self.stop(waiter)
        return waiter

    def stop(self, waiter: threading.Thread) -> None:
        self.stopping.set()
        waiter.join()


def concurrent_load(
    server: ServerProcess, instances: list[dict[str, Any]], clients: int, seconds: float
) -> dict[str, float]:
    assert server.process is not None
    Load(server.url, instances, 1).run(1.0)  # warm-up
    load = Load(server.url, instances, clients)
    server_cpu, client_cpu, wall = cpu_seconds(server.process.pid), own_cpu(), time.perf_counter()
    load.run(seconds)
    wall = time.perf_counter() - wall
    return {
        "requests": len(load.latencies),
        "failed": len(load.failures),
        "throughput_rps": len(load.latencies) / wall,
        "p50_ms": 1000 * statistics.median(load.latencies),
        "p99_ms": 1000 * measure.percentile(load.latencies, 0.99),
        "wall_s": wall,
        "server_cpu_s": cpu_seconds(server.process.pid) - server_cpu,
        "client_cpu_s": own_cpu() - client_cpu,
    }


def interleaved(
    servers: dict[str, ServerProcess], instances: list[dict[str, Any]], seconds: float
) -> dict[str, dict[str, float]]:
    """One client alternating requests between the servers: both see the same machine load."""
    pids = {mode: server.process.pid for mode, server in servers.items() if server.process}
    latencies: dict[str, list[float]] = {mode: [] for mode in servers}
    clients = {
        mode: httpx.Client(base_url=server.url, timeout=30) for mode, server in servers.items()
    }
    server_cpu = {mode: cpu_seconds(pid) for mode, pid in pids.items()}
    client_cpu, wall = own_cpu(), time.perf_counter()
    i = 0
    while time.perf_counter() - wall < seconds:
        for mode, client in clients.items():
            started = time.perf_counter()
            response = client.post("/predict", json={"instances": [instances[i % len(instances)]]})
            if response.status_code == 200:
                latencies[mode].append(time.perf_counter() - started)
        i += 1
    wall = time.perf_counter() - wall
    client_share = (own_cpu() - client_cpu) / len(servers)
    for client in clients.values():
        client.close()
    return {
        mode: {
            "requests": len(times),
            "failed": i - len(times),
            "throughput_rps": len(times) / wall,
            "p50_ms": 1000 * statistics.median(times),
            "p99_ms": 1000 * measure.percentile(times, 0.99),
            "wall_s": wall,
            "server_cpu_s": cpu_seconds(pids[mode]) - server_cpu[mode],
            "client_cpu_s": client_share,
        }
        for mode, times in latencies.items()
    }


def latency_rounds(
    root: Path, instances: list[dict[str, Any]], args: argparse.Namespace
) -> dict[str, Any]:
    """Per round: a server with the log off and one with it on, side by side (fresh processes)."""
    runs: list[dict[str, dict[str, Any]]] = []
    for _ in range(args.rounds):
        off = ServerProcess(root, f"{MODEL}@production", "--no-log-predictions")
        on = ServerProcess(root, f"{MODEL}@production", "--log-predictions")
        with off, on:
            servers = {"off": off, "on": on}
            # Warm-up past the log's first batch (written after 5 s): its one-time imports
            # would otherwise land in the measurement of the logging server only.
            interleaved(servers, instances, WARM_UP)
            single = interleaved(servers, instances, args.seconds)
            many = {
                mode: concurrent_load(server, instances, args.clients, args.seconds)
                for mode, server in servers.items()
            }
        runs.append({mode: {"single": single[mode], "concurrent": many[mode]} for mode in servers})
        print(
            f"  p50 log off {single['off']['p50_ms']:.2f} ms, on {single['on']['p50_ms']:.2f} ms; "
            f"{args.clients} clients: off {many['off']['throughput_rps']:.0f} req/s, "
            f"on {many['on']['throughput_rps']:.0f} req/s"
        )
    ratios = [r["on"]["single"]["p50_ms"] / r["off"]["single"]["p50_ms"] for r in runs]
    median = runs[sorted(range(len(runs)), key=lambda n: ratios[n])[(len(runs) - 1) // 2]]
    return {"rounds": runs, "p50_ratios": ratios, "median_round": median}


def log_call_cost(
    kit: Kit, instances: list[dict[str, Any]], rows: int = 20_000
) -> dict[str, float]:
    """What logging adds to a request, in this process: ``PredictionLogger.log`` per row."""
    from mlops_kit.monitoring import PredictionLogger

    with PredictionLogger(kit, "log-cost", 1) as logger:
        started, cpu = time.perf_counter(), own_cpu()
        for i in range(rows):
            logger.log(f"r{i}", instances[i % len(instances)], True, 0.5)
        wall, cpu = time.perf_counter() - started, own_cpu() - cpu
    return {"rows": rows, "us_per_row": 1e6 * wall / rows, "cpu_us_per_row": 1e6 * cpu / rows}


def cycles(
    kit: Kit, root: Path, instances: list[dict[str, Any]], args: argparse.Namespace
) -> dict[str, Any]:
    from mlops_kit.monitoring.predictions import log_tables

    server = ServerProcess(root, f"{MODEL}@production", "--follow-interval", "0.5")
    server.start()
    assert server.process is not None
    load = Load(server.url, instances, args.clients)
    server_cpu, client_cpu, wall = cpu_seconds(server.process.pid), own_cpu(), time.perf_counter()
    waiter = load.run()
    swaps = []
    for cycle in range(args.cycles):
        for version in (2, 1):
            moved = time.perf_counter()
            if version == 2:
                models.promote(kit, f"{MODEL}@2", "production", f"cycle {cycle}")
            else:
                models.rollback(kit, MODEL, "production", reason=f"cycle {cycle}")
            seen = len(load.versions_seen)
            deadline = moved + 60
            while not (load.versions_seen[seen:] and load.versions_seen[-1] == version):
                if time.perf_counter() > deadline:
                    raise SystemExit(f"version {version} not served a minute after the move")
                time.sleep(0.01)
            swaps.append(time.perf_counter() - moved)
    load.stop(waiter)
    wall = time.perf_counter() - wall
    server_cpu = cpu_seconds(server.process.pid) - server_cpu
    client_cpu = own_cpu() - client_cpu
    server.stop()
    log, _ = log_tables(kit)
    logged = {
        row["request_id"]: row["model_version"]
        for row in kit.warehouse.execute(log.select("request_id", "model_version")).to_pylist()
    }
    lost = [rid for rid in load.answered if rid not in logged]
    wrong = [rid for rid, version in load.answered.items() if logged.get(rid, version) != version]
    return {
        "cycles": args.cycles,
        "requests": len(load.answered),
        "failed": len(load.failures),
        "failures": load.failures[:5],
        "lost_log_rows": len(lost),
        "rows_with_another_version": len(wrong),
        "swap_seen_s_median": statistics.median(swaps),
        "swap_seen_s_max": max(swaps),
        "wall_s": wall,
        "server_cpu_s": server_cpu,
        "client_cpu_s": client_cpu,
    }


def soak(root: Path, instances: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    with ServerProcess(root, f"{MODEL}@production") as server:
        assert server.process is not None
        load = Load(server.url, instances, args.clients)
        server_cpu, client_cpu, wall = (
            cpu_seconds(server.process.pid),
            own_cpu(),
            time.perf_counter(),
        )
        waiter = load.run()
        samples = []
        for _ in range(int(args.soak)):
            samples.append(rss_mb(server.process.pid))
            time.sleep(1)
        load.stop(waiter)
        wall = time.perf_counter() - wall
        return {
            "seconds": args.soak,
            "requests": len(load.latencies),
            "failed": len(load.failures),
            "rss_mb_start": samples[0],
            "rss_mb_end": samples[-1],
            "rss_mb_max": max(samples),
            "rss_mb_growth_last_half": samples[-1] - samples[len(samples) // 2],
            "wall_s": wall,
            "server_cpu_s": cpu_seconds(server.process.pid) - server_cpu,
            "client_cpu_s": own_cpu() - client_cpu,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="each latency measurement")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--rounds", type=int, default=3, help="log off/on server pairs")
    parser.add_argument("--cycles", type=int, default=10, help="promote/rollback cycles")
    parser.add_argument("--soak", type=float, default=60.0, help="seconds of the memory soak")
    args = parser.parse_args()
    table = measure.Table(
        "Prediction server on loopback (20 features; CPU of the server and of this client)",
        [
            "phase",
            "requests",
            "failed",
            "req/s",
            "p50 ms",
            "p99 ms",
            "wall s",
            "server CPU s",
            "client CPU s",
        ],
    )
    started, cpu_started = time.perf_counter(), own_cpu()
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as directory:
        root = Path(directory)
        print("building the twin: 5,000 rows x 20 features, two model versions")
        kit, instances = twin(root)
        print(f"latency and throughput, log off/on, {args.rounds} rounds of {args.seconds:.0f} s")
        latency = latency_rounds(root, instances, args)
        log_cost = log_call_cost(kit, instances)
        print(f"{args.cycles} promote/rollback cycles under load")
        swapped = cycles(kit, root, instances, args)
        print(f"memory soak, {args.soak:.0f} s")
        soaked = soak(root, instances, args)
        kit.close()
    off, on = latency["median_round"]["off"], latency["median_round"]["on"]
    overhead = statistics.median(latency["p50_ratios"]) - 1
    rows = [
        ("1 client alt., log off", off["single"]),
        ("1 client alt., log on", on["single"]),
        (f"{args.clients} clients, log off", off["concurrent"]),
        (f"{args.clients} clients, log on", on["concurrent"]),
        (f"{args.cycles} swap cycles, log on", swapped),
        (f"soak {args.soak:.0f} s, log on", soaked),
    ]
    for name, r in rows:
        table.add(
            name,
            r["requests"],
            r["failed"],
            r.get("throughput_rps", r["requests"] / r["wall_s"]),
            r.get("p50_ms", float("nan")),
            r.get("p99_ms", float("nan")),
            r["wall_s"],
            r["server_cpu_s"],
            r["client_cpu_s"],
        )
    table.show()
    print(
        f"logging adds {100 * overhead:+.1f} % to p50 (goal <= 10 %); PredictionLogger.log takes "
        f"{log_cost['us_per_row']:.0f} us a row ({log_cost['cpu_us_per_row']:.0f} us CPU), "
        f"{100 * log_cost['us_per_row'] / 1000 / off['single']['p50_ms']:.2f} % of the p50"
    )
    print(
        f"swaps: {swapped['failed']} failed requests, {swapped['lost_log_rows']} lost log rows, "
        f"{swapped['rows_with_another_version']} rows with another version; new version seen "
        f"after {swapped['swap_seen_s_median']:.2f} s median, {swapped['swap_seen_s_max']:.2f} s max"
    )
    print(
        f"soak: RSS {soaked['rss_mb_start']:.0f} -> {soaked['rss_mb_end']:.0f} MB "
        f"(max {soaked['rss_mb_max']:.0f}, last half {soaked['rss_mb_growth_last_half']:+.1f})"
    )
    measure.write_results(
        "serving",
        table,
        features=NUMERIC + CATEGORICAL,
        clients=args.clients,
        latency=latency,
        logging_p50_overhead=overhead,
        log_call=log_cost,
        cycles=swapped,
        soak=soaked,
        total_wall_s=time.perf_counter() - started,
        bench_process_cpu_s=own_cpu() - cpu_started,
    )


if __name__ == "__main__":
    main()
