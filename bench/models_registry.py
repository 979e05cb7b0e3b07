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
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import insert, text

from mlops_kit import models
from mlops_kit.db import migrate
from mlops_kit.db.models import utcnow
from mlops_kit.db.models.registry import (
    ModelAlias,
    ModelAliasEvent,
    ModelFile,
    ModelMetric,
    ModelVersionRow,
    RegisteredModel,
)
from mlops_kit.environments import Environment
from mlops_kit.kit import Kit

POSTGRES = os.environ.get("MLOPS_KIT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def percentiles(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    return {
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))],
        "runs": len(ordered),
    }


def timed(action: Callable[[], object], runs: int) -> list[float]:
    action()  # warm caches and connections
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return timings


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
            session.add(ModelAlias(model_id=model.id, alias=alias, version_id=ids[version]))
            session.add(
                ModelAliasEvent(
                    model_id=model.id,
                    alias=alias,
                    action="promote",
                    to_version=version,
                    actor="bench",
                    reason="bench",
                )
            )
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
            results = {
                "resolve NAME@ALIAS (get_version)": percentiles(
                    timed(lambda: models.get_version(kit, "bench@production"), runs)
                ),
                "resolve NAME@VERSION (get_version)": percentiles(
                    timed(lambda: models.get_version(kit, f"bench@{count // 3}"), runs)
                ),
                "list_versions, newest 100": percentiles(
                    timed(lambda: models.list_versions(kit, "bench", limit=100), runs)
                ),
                f"list_versions, all {count}": percentiles(
                    timed(lambda: models.list_versions(kit, "bench"), max(5, runs // 20))
                ),
            }
            return {"versions": count, "seed_s": seeded, "latency": results}
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


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
                started = time.perf_counter()
                copy_with_fsync(source, root / f"copy-{number}.bin")
                copies.append(time.perf_counter() - started)
                started = time.perf_counter()
                models.register(kit, "big", source)
                registrations.append(time.perf_counter() - started)
        copy, register = statistics.median(copies), statistics.median(registrations)
        return {
            "size_mb": size_mb,
            "repeats": repeats,
            "raw_copy_s": copy,
            "register_s": register,
            "overhead_s": register - copy,
            "overhead_ratio": register / copy,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    latency = registry_latency(args.versions, args.runs)
    overhead = registration_overhead(args.size_mb, args.repeats)

    print(
        f"PostgreSQL, {args.versions} versions of one model (seeded in {latency['seed_s']:.1f} s)"
    )
    print(f"{'operation':40} {'p50 ms':>9} {'p99 ms':>9} {'runs':>6}")
    for name, row in latency["latency"].items():  # type: ignore[attr-defined]
        print(f"{name:40} {row['p50_ms']:9.2f} {row['p99_ms']:9.2f} {row['runs']:6d}")
    print(f"\nLocal twin, {args.size_mb} MB artifact (median of {args.repeats})")
    print(f"{'raw copy + fsync':40} {overhead['raw_copy_s']:9.3f} s")
    print(f"{'register (hash, copy, fsync, metadata)':40} {overhead['register_s']:9.3f} s")
    print(
        f"{'overhead':40} {overhead['overhead_s']:9.3f} s "
        f"(x{overhead['overhead_ratio']:.2f} the raw copy)"
    )
    out = Path(__file__).with_name("results") / "models_registry.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"registry": latency, "registration": overhead}, indent=2))


if __name__ == "__main__":
    main()
