"""Demo data for the churn case: customers whose churn depends on contract, tenure and support.

Used by the quick start, the template's tests and the benchmarks. ``label_noise`` makes a
deliberately worse version: same schema, same types, but labels that no model can learn well.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_kit.kit import Kit

CONTRACTS = ("month-to-month", "one-year", "two-year")
REGIONS = ("north", "south", "east", "west")


def churn_frame(rows: int, seed: int = 7, label_noise: float = 0.0) -> Any:
    """``rows`` customers with a boolean ``churned`` label.

    Args:
        rows: how many customers.
        seed: the random seed (same seed, same data).
        label_noise: the fraction of labels replaced by coin flips.
    """
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped]

    rng = np.random.default_rng(seed)
    contract = rng.choice(CONTRACTS, size=rows, p=[0.55, 0.25, 0.2])
    tenure = rng.integers(1, 73, size=rows)
    charges = np.round(rng.normal(65, 20, size=rows).clip(15, 130), 2)
    calls = rng.poisson(1.5, size=rows)
    logit = (
        -1.2
        + 1.6 * (contract == "month-to-month")
        - 0.9 * (contract == "two-year")
        - 0.035 * tenure
        + 0.012 * (charges - 65)
        + 0.45 * calls
    )
    churned = rng.random(rows) < 1 / (1 + np.exp(-logit))
    noisy = rng.random(rows) < label_noise
    churned = np.where(noisy, rng.random(rows) < 0.5, churned)
    return pd.DataFrame(
        {
            "customer_id": [f"c{seed:02d}-{i:07d}" for i in range(rows)],
            "contract": contract,
            "region": rng.choice(REGIONS, size=rows),
            "tenure_months": tenure,
            "monthly_charges": charges,
            "support_calls": calls,
            "churned": churned,
        }
    )


def write_demo_data(path: Path, rows: int = 5000, seed: int = 7, label_noise: float = 0.0) -> Path:
    """Write :func:`churn_frame` as CSV (or Parquet, by suffix) to ``path``."""
    frame = churn_frame(rows, seed, label_noise)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


@contextmanager
def demo_kit(directory: Path, dataset: str, rows: int = 2000) -> Iterator[tuple[Kit, str]]:
    """A local twin in ``directory`` holding one version of demo data; yields it and the version."""
    from mlops_kit import data
    from mlops_kit.environments import Workspace, resolve_environment
    from mlops_kit.kit import Kit

    workspace = Workspace.discover(directory, environ={})
    environment = resolve_environment("local", workspace=workspace, environ={})
    source = write_demo_data(directory / "demo.csv", rows=rows)
    with Kit(environment) as kit:
        yield kit, data.snapshot(kit, dataset, path=source).ref
