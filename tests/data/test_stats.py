"""Shared statistics: profile, type conformance and drift, on DuckDB and as BigQuery SQL."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import ibis
import pyarrow as pa
import pytest
import sqlglot

from mlops_kit import stats
from mlops_kit.warehouse import Source, Warehouse, open_warehouse


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return open_warehouse(f"duckdb://{tmp_path / 'warehouse.duckdb'}")


def _write(tmp_path: Path, name: str, sql: str) -> Path:
    path = tmp_path / name
    duckdb.connect().execute(f"COPY ({sql}) TO '{path}'")
    return path


def _table(warehouse: Warehouse, path: Path) -> ibis.Table:
    return warehouse.table(warehouse.stage("d", Source(path=path)).location)


REFERENCE = (
    "SELECT range AS id, (range % 97) / 9.7 AS amount, ['a','b','c'][1 + range % 3] AS plan, "
    "range % 2 = 0 AS active, CASE WHEN range % 10 = 0 THEN NULL ELSE range % 5 END AS calls, "
    "DATE '2024-01-01' + (range % 30)::INT AS day FROM range(5000)"
)


def test_profile_counts_nulls_distincts_ranges_and_categories(warehouse, tmp_path):
    result = stats.profile(warehouse, _table(warehouse, _write(tmp_path, "r.parquet", REFERENCE)))
    columns = result["columns"]
    assert result["row_count"] == 5000
    assert columns["calls"]["nulls"] == 500 and columns["calls"]["null_rate"] == 0.1
    assert columns["calls"]["distinct"] == 5
    assert (columns["amount"]["min"], columns["amount"]["max"]) == (0.0, pytest.approx(96 / 9.7))
    assert sum(columns["amount"]["histogram"]["counts"]) == 5000
    assert columns["plan"]["kind"] == "categorical"
    assert sorted(columns["plan"]["top"]) == [["a", 1667], ["b", 1667], ["c", 1666]]
    assert columns["plan"]["other"] == 0
    assert sorted(columns["active"]["top"]) == [["false", 2500], ["true", 2500]]
    day = columns["day"]
    assert (day["kind"], day["min"], day["max"]) == ("temporal", "2024-01-01", "2024-01-30")
    assert 2.0 < columns["id"]["quantiles"]["0.5"] / 1000 < 3.0


def test_conformance_counts_and_examples_of_text_in_numeric_columns(warehouse, tmp_path):
    broken = _write(
        tmp_path,
        "b.csv",
        "SELECT range AS id, CASE WHEN range % 50 = 0 THEN 'unknown' WHEN range % 70 = 1 "
        "THEN 'N/A' ELSE (range % 97)::VARCHAR END AS amount, 'a' AS plan FROM range(1000)",
    )
    result = stats.conformance(
        warehouse, _table(warehouse, broken), {"id": "int64", "amount": "float64", "plan": "string"}
    )
    assert set(result) == {"amount"}
    assert result["amount"]["nonconforming"] == 20 + 15
    assert result["amount"]["examples"] == [["unknown", 20], ["N/A", 15]]
    assert result["amount"]["checked"] == 1000


def test_drift_is_zero_for_identical_data_and_large_for_shifted_data(warehouse, tmp_path):
    reference = _table(warehouse, _write(tmp_path, "r.parquet", REFERENCE))
    shifted = _table(
        warehouse,
        _write(tmp_path, "s.parquet", REFERENCE.replace("/ 9.7 AS amount", "/ 9.7 + 4 AS amount")),
    )
    ref = stats.profile(warehouse, reference)["columns"]
    for table, low in ((reference, True), (shifted, False)):
        cur = stats.profile(warehouse, table)["columns"]
        span = (ref["amount"]["min"], ref["amount"]["max"])
        histogram = stats.histograms(warehouse, table, {"amount": span})["amount"]
        drift = stats.column_drift(ref["amount"], cur["amount"], histogram)
        assert drift is not None
        if low:
            assert drift["psi"] == pytest.approx(0.0, abs=1e-9) and drift["ks"] == 0.0
            assert drift["ks_pvalue"] == 1.0
        else:
            assert drift["psi"] > 0.2 and drift["ks"] > 0.3 and drift["ks_pvalue"] < 1e-6
    assert stats.jensen_shannon([["a", 10]], 0, [["a", 10]], 0) == 0.0
    assert stats.jensen_shannon([["a", 10]], 0, [["b", 10]], 0) == pytest.approx(1.0)


def test_compared_profile_bins_numeric_columns_on_the_given_ranges_only(warehouse, tmp_path):
    reference = _table(warehouse, _write(tmp_path, "r.parquet", REFERENCE))
    shifted = _table(
        warehouse,
        _write(tmp_path, "s.parquet", REFERENCE.replace("/ 9.7 AS amount", "/ 9.7 + 4 AS amount")),
    )
    ref = stats.profile(warehouse, reference)["columns"]
    full = stats.profile(warehouse, shifted)
    span = (ref["amount"]["min"], ref["amount"]["max"])
    compared = stats.compared_profile(warehouse, shifted, {"amount": span})
    columns = compared["columns"]
    assert compared["row_count"] == full["row_count"] == 5000
    assert (
        columns["amount"]["histogram"]
        == stats.histograms(warehouse, shifted, {"amount": span})["amount"]
    )
    assert columns["amount"]["histogram"]["above"] > 0
    assert not {"min", "max", "mean", "std", "quantiles"} & set(columns["amount"])
    assert "histogram" not in columns["calls"]
    for name in ("amount", "calls", "plan", "active", "day"):
        for key in ("kind", "nulls", "null_rate", "distinct", "top", "other", "min", "max"):
            if key in columns[name]:
                assert columns[name][key] == full["columns"][name][key], (name, key)
    assert columns["plan"]["top"] and columns["day"]["min"] == "2024-01-01"
    drift = stats.column_drift(ref["amount"], columns["amount"], columns["amount"]["histogram"])
    assert drift is not None and drift["psi"] > 0.2


def test_quantiles_are_interpolated_within_one_bin() -> None:
    histogram = {"lo": 0.0, "hi": 100.0, "counts": [10] * 100, "below": 0, "above": 0}
    result = stats.quantiles(histogram)
    assert result["0.5"] == pytest.approx(50.0) and result["0.01"] == pytest.approx(1.0)
    skewed = {"lo": 0.0, "hi": 10.0, "counts": [90] + [0] * 98 + [10], "below": 0, "above": 0}
    assert stats.quantiles(skewed)["0.5"] < 0.1 and stats.quantiles(skewed)["0.95"] > 9.9


def test_psi_groups_hold_a_tenth_of_the_reference_each() -> None:
    histogram = {"counts": [10] * 100, "below": 0, "above": 0}
    groups = stats.psi_groups(histogram)
    assert len(groups) == 10 and all(len(group) == 10 for group in groups)


def test_ks_p_value_matches_scipy_asymptotics() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    reference = {"counts": [100] * 10, "below": 0, "above": 0}
    current = {"counts": [130] * 5 + [70] * 5, "below": 0, "above": 0}
    statistic, pvalue = stats.ks(reference, current)
    assert statistic == pytest.approx(0.15)
    effective = math.sqrt(1000 * 1000 / 2000)
    expected = scipy_stats.kstwobign.sf((effective + 0.12 + 0.11 / effective) * statistic)
    assert pvalue == pytest.approx(expected, rel=1e-9)


class _BigQuerySqlOnDuckDB(Warehouse):
    """Runs the BigQuery SQL that the kit generates, translated back by sqlglot, on DuckDB."""

    dialect = "bigquery"

    def __init__(self, inner: Warehouse) -> None:
        super().__init__("duckdb:///bigquery-sql")
        self.inner = inner
        self.statements: list[str] = []
        # BigQuery's IEEE_DIVIDE is floating-point division; sqlglot keeps the name.
        inner._connection.execute("CREATE MACRO ieee_divide(a, b) AS a / b")  # type: ignore[attr-defined]

    def execute(self, expr: ibis.Expr) -> pa.Table:
        sql = self.compile(expr)
        self.statements.append(sql)
        duck = sqlglot.transpile(sql, read="bigquery", write="duckdb")[0]
        inlined = self.inner.inline(duck)  # type: ignore[attr-defined]
        return self.inner._connection.execute(inlined).to_arrow_table()  # type: ignore[attr-defined]

    # Storage is the DuckDB warehouse's own: only the SQL that computes statistics is BigQuery's.
    def stage(self, dataset, source):  # type: ignore[no-untyped-def]
        return self.inner.stage(dataset, source)

    def publish(self, staged, dataset, version):  # type: ignore[no-untyped-def]
        return self.inner.publish(staged, dataset, version)

    def discard(self, staged):  # type: ignore[no-untyped-def]
        self.inner.discard(staged)

    def table(self, location):  # type: ignore[no-untyped-def]
        return self.inner.table(location)

    def check(self) -> str:
        return f"BigQuery SQL on {self.inner.check()}"


def test_bigquery_sql_of_the_same_expressions_gives_identical_statistics(warehouse, tmp_path):
    table = _table(warehouse, _write(tmp_path, "r.parquet", REFERENCE))
    bigquery = _BigQuerySqlOnDuckDB(warehouse)
    direct, translated = stats.profile(warehouse, table), stats.profile(bigquery, table)
    assert all("`" in sql for sql in bigquery.statements)
    assert any("OVER (" in sql for sql in bigquery.statements)
    assert translated == direct
    expected = {"amount": "float64", "calls": "int64"}
    text = _table(
        warehouse,
        _write(
            tmp_path,
            "t.csv",
            "SELECT CASE WHEN range % 9 = 0 THEN 'x' ELSE '1' END AS amount, "
            "'7' AS calls FROM range(100)",
        ),
    )
    assert stats.conformance(bigquery, text, expected) == stats.conformance(
        warehouse, text, expected
    )
