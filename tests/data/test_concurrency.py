"""Concurrent snapshots of one dataset from several processes against the real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_kit import data
from mlops_kit.kit import Kit
from tests.data.conftest import CHURN_V1, write

PROCESSES = 4
EACH = 3

_CHILD = """
import json, sys
from pathlib import Path
from mlops_kit import data
from mlops_kit.kit import Kit

warehouse, metadata, files = sys.argv[1], sys.argv[2], sys.argv[3:]
with Kit.open("local", warehouse=warehouse, metadata=metadata) as kit:
    made = [data.snapshot(kit, "churn", path=Path(f)) for f in files]
print(json.dumps([[v.version, v.fingerprint, v.created] for v in made]))
"""


def _run_children(tmp_path: Path, warehouse: str, metadata: str, files: list[list[Path]]):  # type: ignore[no-untyped-def]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, warehouse, metadata, *map(str, group)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        for group in files
    ]
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        results += json.loads(out)
    return results


@pytest.mark.postgres
def test_concurrent_snapshots_get_distinct_gap_free_versions(tmp_path, postgres_url):
    warehouse = f"duckdb://{tmp_path / 'wh' / 'warehouse.duckdb'}"
    with Kit.open("local", warehouse=warehouse, metadata=postgres_url) as kit:
        assert kit.metadata.check()  # migrated once, before the children race
        same = write(tmp_path / "same.parquet", CHURN_V1)
        # Each process snapshots its own files and, at a different moment, the shared one.
        files = [
            [
                write(tmp_path / f"p{p}_{i}.parquet", CHURN_V1 + f" LIMIT {100 + p * EACH + i}")
                for i in range(EACH)
            ]
            for p in range(PROCESSES)
        ]
        for p, group in enumerate(files):
            group.insert(p % (EACH + 1), same)
        results = _run_children(tmp_path, warehouse, postgres_url, files)
        total = PROCESSES * EACH + 1
        created = sorted(version for version, _, new in results if new)
        assert created == list(range(1, total + 1))
        stored = data.list_versions(kit, "churn")
        assert [v.version for v in stored] == created
        assert len({v.fingerprint for v in stored}) == total
        # The shared content got one version, which every other process was handed back.
        reused = [version for version, _, new in results if not new]
        assert len(reused) == PROCESSES - 1 and len(set(reused)) == 1
        for version in stored:
            assert data.load(kit, version.ref).num_rows == version.row_count
