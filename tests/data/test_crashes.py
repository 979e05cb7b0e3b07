"""A snapshot killed at each step of publishing leaves no version, no damage, and nothing gc misses."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mlops_kit import data
from tests.data.conftest import CHURN_V1, write
from tests.faults import run_killed

_WORKER = """
import sys
from pathlib import Path
from mlops_kit import data
from mlops_kit.kit import Kit
from tests.faults import crash_at

warehouse, metadata, source, step = sys.argv[1:]
crash_at(step)
with Kit.open("local", warehouse=warehouse, metadata=metadata) as kit:
    data.snapshot(kit, "churn", path=Path(source))
"""


@pytest.mark.parametrize(
    "step",
    [
        # The staged copy is written, not yet measured.
        "mlops_kit.warehouse.duckdb:DuckDBWarehouse._measure",
        # Staged and profiled; the manifest's transaction has not begun.
        "mlops_kit.data.snapshots:_locked_dataset",
        # The dataset is locked and the version number taken; the data is not published.
        "mlops_kit.warehouse.duckdb:DuckDBWarehouse.publish",
        # The data is published under its final name; the manifest is not committed.
        "mlops_kit.warehouse.duckdb:DuckDBWarehouse.publish+",
    ],
    ids=["staged", "profiled", "locked", "published"],
)
def test_a_snapshot_killed_at_each_step_leaves_no_version_and_gc_removes_its_data(
    kit, tmp_path: Path, step: str
) -> None:
    first = data.snapshot(kit, "churn", path=write(tmp_path / "a.parquet", CHURN_V1))
    more = write(tmp_path / "b.parquet", CHURN_V1 + " LIMIT 10")
    environment = kit.environment
    run_killed(_WORKER, environment.warehouse, environment.metadata, str(more), step, cwd=tmp_path)

    # No version appeared, the first is intact, and the dataset is not left locked.
    assert [v.version for v in data.list_versions(kit, "churn")] == [1]
    assert data.load(kit, "churn@1").num_rows == 3000
    # What the crash left (staged or published data no manifest names) is gc's, and only that.
    left = data.collect_garbage(kit, grace=timedelta(0), dry_run=True)
    assert len(left) == 1 and kit.warehouse.file(first.storage) != Path(left[0])
    assert data.collect_garbage(kit, grace=timedelta(0)) == left
    stored = sorted(p.name for p in kit.warehouse.versions_root.rglob("*.parquet"))
    assert stored == [Path(first.storage).name]
    again = data.snapshot(kit, "churn", path=more)
    assert (again.version, again.created) == (2, True)
    assert data.load(kit, "churn@2").num_rows == 10
