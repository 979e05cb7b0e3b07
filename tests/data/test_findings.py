"""The findings of a dataset diff: what broke, named even when no --fail-on rule asks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_kit import data
from mlops_kit.data.diagnosis import identifiers


def snapshot(kit: Any, frame: pd.DataFrame, path: Path) -> str:
    frame.to_parquet(path)
    return data.snapshot(kit, "accounts", path=path).ref


def test_null_jumps_emptied_constant_and_new_categories_are_findings(
    local_kit: Any, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    rows = 1000
    before = pd.DataFrame(
        {
            "account_id": np.arange(rows),
            "api_calls": rng.poisson(20, rows).astype(float),
            "reports": rng.poisson(3, rows).astype(float),
            "region": rng.choice(["eu", "us"], rows),
            "plan": rng.choice(["free", "pro", "team"], rows),
            "spend": rng.normal(50, 5, rows),
        }
    )
    after = before.copy()
    after["account_id"] = np.arange(rows) + rows  # every id new: not a drift finding
    after.loc[rng.random(rows) < 0.9, "api_calls"] = np.nan
    after["reports"] = np.nan
    after["region"] = "eu"
    after["plan"] = rng.choice(["free", "pro", "enterprise"], rows)
    after["spend"] = rng.normal(80, 5, rows)
    a = snapshot(local_kit, before, tmp_path / "a.parquet")
    b = snapshot(local_kit, after, tmp_path / "b.parquet")

    result = data.diff(local_kit, a, b)

    by_column: dict[str, list[str]] = {}
    for finding in result.findings:
        by_column.setdefault(finding.evidence["columns"][0], []).append(finding.statement)
    statements = [f.statement for f in result.findings]
    # Worst first: the emptied column, then the 90 % null jump; both broken, with the numbers.
    assert statements[0] == f"reports is empty in {b} (null in 0% of {a})"
    assert str(result.findings[1].severity) == "broken"
    assert result.findings[1].statement.startswith("api_calls null rate 0% → 9")
    assert f"region is constant in {b} (it had 2 values in {a})" in by_column["region"]
    assert any("spend shifted: PSI" in s for s in by_column["spend"])
    plan = by_column["plan"]
    assert any("1 new ('enterprise')" in s and "1 vanished ('team')" in s for s in plan), plan
    assert "account_id" not in by_column
    assert identifiers(result.summary) == {"account_id"}
    assert result.violations("") == []  # no rule asked, the findings say it anyway
    page = data.diff_page(result).render()
    assert page.index("Findings") < page.index("Type conformance")
    assert "identifier-like" in page and "reports is empty" in page
