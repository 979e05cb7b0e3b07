"""Model registry latency with 10,000 versions in PostgreSQL, and registration overhead.

1. Seeds one model with N ready versions (3 overall metrics, 1 file each) and two aliases in a fresh
   schema of the PostgreSQL server (``MLOPS_KIT_TEST_POSTGRES``, default the machine's at
   127.0.0.1:5432), then times ``get_version(NAME@ALIAS)`` (the alias resolved and the version's
   lineage loaded) and ``list_versions`` (newest 100, and all N).
2. On the local twin (file:// store, SQLite), times registering a 100 MB artifact against a plain
   copy of the same file with fsync: the overhead is hashing (SHA-256 + MD5), metadata and the
   component versions.

Usage: python bench/models_registry.py [--versions N] [--runs R] [--size-mb M]
Prints a table and writes bench/results/models_registry.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import measure
from sqlalchemy import event, insert, text

from mlops_kit import models
from mlops_kit.db import migrate
from mlops_kit.db.models import utcnow
from mlops_kit.db.models.registry import (
    ModelFile,
    ModelMetric,
    ModelVersionRow,
    RegisteredModel,
)
from mlops_kit.environments import Environment
from mlops_kit.kit import Kit
from mlops_kit.models.aliases import move_alias

POSTGRES = os.environ.get("MLOPS_KIT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
GOALS_P99_MS = {"resolve NAME@ALIAS (get_version)": 5.0, "list_versions, newest 100": 10.0}


def latency(calls: list[measure.Measurement]) -> dict[str, float]:
    """p50 and p99 of wall and CPU time per call, in milliseconds."""
    walls, cpus = [1000 * c.wall_s for c in calls], [1000 * c.cpu_s for c in calls]
    return {
        "wall_p50_ms": measure.percentile(walls, 0.5),
        "wall_p99_ms": measure.percentile(walls, 0.99),
        "cpu_p50_ms": measure.percentile(cpus, 0.5),
        "cpu_p99_ms": measure.percentile(cpus, 0.99),
        "runs": len(calls),
    }


def seed(kit: Kit, count: int) -> None:
    now = utcnow()
    with kit.metadata.session() as session:
        model = RegisteredModel(name="bench", last_version=count, created_at=now)
        session.add(model)
        session.flush()
        rows = [
            {
                "model_id": model.id,
                "version": v,
                "status": "ready",
                "artifact_uri": f"file:///bench/{v}",
                "flavor": "sklearn",
                "created_by": "bench",
                "created_at": now,
                "ready_at": now,
            }
            for v in range(1, count + 1)
        ]
        session.execute(insert(ModelVersionRow), rows)
        ids = dict(
            session.execute(
                text("SELECT version, id FROM model_versions WHERE model_id = :m"),
                {"m": model.id},
            ).all()
        )
        session.execute(
            insert(ModelMetric),
            [
                {
                    "version_id": ids[v],
                    "slice_column": "",
                    "slice_value": "",
                    "name": m,
                    "value": 0.5,
                }
                for v in range(1, count + 1)
                for m in ("accuracy", "f1", "roc_auc")
            ],
        )
        session.execute(
            insert(ModelFile),
            [
                {
                    "version_id": ids[v],
                    "path": "model.joblib",
                    "key": f"bench/{v}/model.joblib",
                    "size": 1,
                    "sha256": "0" * 64,
                    "md5": "0" * 32,
                }
                for v in range(1, count + 1)
            ],
        )
        for alias, version in (("champion", count // 2), ("production", count - 1)):
            target = session.get_one(ModelVersionRow, ids[version])
            move_alias(session, model, alias, target, "promote", "bench", "bench")
    with kit.metadata.engine.begin() as connection:
        connection.execute(text("ANALYZE"))


def registry_latency(count: int, runs: int) -> dict[str, object]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
    environment = Environment(
        name="bench",
        warehouse="duckdb:///unused.duckdb",
        artifacts="file:///unused",
        metadata=url,
        orchestrator="kfp-local",
    )
    try:
        with Kit(environment) as kit:
            migrate.upgrade(kit.metadata)
            started = time.perf_counter()
            seed(kit, count)
            seeded = time.perf_counter() - started
            operations = {
                "resolve NAME@ALIAS (get_version)": (
                    lambda: models.get_version(kit, "bench@production"),
                    runs,
                ),
                "resolve NAME@VERSION (get_version)": (
                    lambda: models.get_version(kit, f"bench@{count // 3}"),
                    runs,
                ),
                "list_versions, newest 100": (
                    lambda: models.list_versions(kit, "bench", limit=100),
                    runs,
                ),
                f"list_versions, all {count}": (
                    lambda: models.list_versions(kit, "bench"),
                    max(5, runs // 20),
                ),
            }
            results = {
                name: latency(measure.repeated(action, times))
                for name, (action, times) in operations.items()
            }
            plans = {
                name: query_plans(kit, action) for name, (action, _) in list(operations.items())[:3]
            }
            return {"versions": count, "seed_s": seeded, "latency": results, "plans": plans}
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def query_plans(kit: Kit, action: Callable[[], object]) -> list[str]:
    """Each SQL statement ``action`` issues, with PostgreSQL's EXPLAIN ANALYZE of it."""
    issued: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        issued.append((statement, parameters))

    event.listen(kit.metadata.engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(kit.metadata.engine, "before_cursor_execute", record)
    plans = []
    with kit.metadata.engine.connect() as connection:
        for statement, parameters in issued:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            rows = connection.exec_driver_sql(f"EXPLAIN ANALYZE {statement}", parameters).all()
            plans.append(statement + "\n" + "\n".join(f"  {row[0]}" for row in rows))
    return plans


def copy_with_fsync(source: Path, target: Path) -> None:
    with source.open("rb") as reader, target.open("wb") as writer:
        shutil.copyfileobj(reader, writer, 8 * 1024 * 1024)
        writer.flush()
        os.fsync(writer.fileno())


def registration_overhead(size_mb: int, repeats: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="mlops-kit-bench-") as directory:
        root = Path(directory)
        source = root / "model.bin"
        with source.open("wb") as stream:
            for _ in range(size_mb):
                stream.write(os.urandom(1024 * 1024))
        copies, registrations = [], []
        environment = Environment(
            name="bench",
            warehouse="duckdb:///unused.duckdb",
            artifacts=(root / "artifacts").as_uri(),
            metadata=f"sqlite:///{root / 'metadata.db'}",
            orchestrator="kfp-local",
        )
        with Kit(environment) as kit:
            migrate.upgrade(kit.metadata)
            warm = root / "warm.bin"
            warm.write_bytes(b"warm")
            models.register(kit, "warm", warm)  # imports, the package list, the engine
            for number in range(repeats):
                with measure.measured() as copy:
                    copy_with_fsync(source, root / f"copy-{number}.bin")
                copies.append(copy)
                with measure.measured() as registration:
                    models.register(kit, "big", source)
                registrations.append(registration)
        return {
            "size_mb": size_mb,
            "repeats": repeats,
            "raw_copy": measure.median(copies),
            "register": measure.median(registrations),
        }


def show(table: measure.Table, registry: dict[str, Any], registration: dict[str, Any]) -> None:
    """Fill the table: latencies with the goals, then the registration overhead."""
    for name, row in registry["latency"].items():
        goal = GOALS_P99_MS.get(name)
        table.add(
            name,
            row["wall_p50_ms"],
            row["wall_p99_ms"],
            row["cpu_p50_ms"],
            row["cpu_p99_ms"],
            row["runs"],
            f"p99 ≤ {goal} ms: {measure.verdict(row['wall_p99_ms'], '<=', goal)}" if goal else "",
        )
    copy, register = registration["raw_copy"], registration["register"]
    size = registration["size_mb"]
    table.add(f"raw copy + fsync, {size} MB", 1000 * copy.wall_s, "", 1000 * copy.cpu_s, "", 3, "")
    wall, cpu = register.over(copy)
    table.add(
        f"register {size} MB (hash, copy, metadata)",
        1000 * register.wall_s,
        "",
        1000 * register.cpu_s,
        "",
        registration["repeats"],
        f"× raw copy: wall {wall:.2f}, CPU {cpu:.2f}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    table = measure.Table(
        f"Model registry: PostgreSQL with {args.versions:,} versions of one model (latency per "
        f"call, ms); local twin registration (median of {args.repeats})",
        ["operation", "wall p50", "wall p99", "CPU p50", "CPU p99", "runs", "goal"],
    )
    registry = registry_latency(args.versions, args.runs)
    registration = registration_overhead(args.size_mb, args.repeats)
    print("Query plans (EXPLAIN ANALYZE of each statement issued, 10,000 versions):")
    for name, plans in registry["plans"].items():
        print(f"\n-- {name}: {len(plans)} statement(s)")
        for plan in plans:
            print(plan)
    show(table, registry, registration)
    table.show()
    measure.write_results("models_registry", table, registry=registry, registration=registration)


if __name__ == "__main__":
    main()
