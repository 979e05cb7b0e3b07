"""Shared statistics: profile, type conformance and drift, on DuckDB and as BigQuery SQL."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import ibis
import numpy as np
import pyarrow as pa
import pytest
import sqlglot

from mlops_kit import stats
from mlops_kit.warehouse import WAREHOUSES, Source, Warehouse


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return WAREHOUSES.open(f"duckdb://{tmp_path / 'warehouse.duckdb'}")


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


def _reference_and_shifted(warehouse: Warehouse, tmp_path: Path) -> tuple[ibis.Table, ibis.Table]:
    """:data:`REFERENCE` and a copy whose ``amount`` is 4 higher (s.parquet)."""
    shifted = REFERENCE.replace("/ 9.7 AS amount", "/ 9.7 + 4 AS amount")
    return (
        _table(warehouse, _write(tmp_path, "r.parquet", REFERENCE)),
        _table(warehouse, _write(tmp_path, "s.parquet", shifted)),
    )


def test_drift_is_zero_for_identical_data_and_large_for_shifted_data(warehouse, tmp_path):
    reference, shifted = _reference_and_shifted(warehouse, tmp_path)
    ref = stats.profile(warehouse, reference)["columns"]
    for table, low in ((reference, True), (shifted, False)):
        cur = stats.profile(warehouse, table)["columns"]
        bins = stats.Bins.of(ref["amount"]["histogram"])
        histogram = stats.histograms(warehouse, table, {"amount": bins})["amount"]
        drift = stats.column_drift(
            ref["amount"], cur["amount"], (ref["amount"]["histogram"], histogram)
        )
        assert drift is not None
        if low:
            assert drift["psi"] == pytest.approx(0.0, abs=1e-9) and drift["ks"] == 0.0
            assert drift["ks_pvalue"] == 1.0
        else:
            assert drift["psi"] > 0.2 and drift["ks"] > 0.3 and drift["ks_pvalue"] < 1e-6
    assert stats.jensen_shannon([["a", 10]], 0, [["a", 10]], 0) == 0.0
    assert stats.jensen_shannon([["a", 10]], 0, [["b", 10]], 0) == pytest.approx(1.0)


def test_compared_profile_bins_numeric_columns_on_the_reference_bins(warehouse, tmp_path):
    reference, shifted = _reference_and_shifted(warehouse, tmp_path)
    ref = stats.profile(warehouse, reference)["columns"]
    full = stats.profile(warehouse, shifted)
    compared = stats.compared_profile(warehouse, shifted, {"amount": ref["amount"]})
    columns = compared["columns"]
    assert compared["row_count"] == full["row_count"] == 5000
    bins = stats.Bins.of(ref["amount"]["histogram"])
    histogram = columns["amount"]["histogram"]
    assert histogram == stats.histograms(warehouse, shifted, {"amount": bins})["amount"]
    assert histogram["above"] > 0
    # Out of range means beyond the reference's maximum, which can lie inside its last bin.
    beyond_max = duckdb.sql(
        f"SELECT count(*) FROM '{tmp_path / 's.parquet'}' WHERE amount > 96 / 9.7"
    )
    assert columns["amount"]["out_of_range"] == beyond_max.fetchone()[0] >= histogram["above"]
    assert not {"min", "max", "mean", "std", "quantiles"} & set(columns["amount"])
    # A numeric column without a reference keeps the profile of its own.
    assert columns["calls"] == full["columns"]["calls"]
    for name in ("amount", "calls", "plan", "active", "day"):
        for key in ("kind", "nulls", "null_rate", "distinct", "top", "other", "min", "max"):
            if key in columns[name] and (name, key) != ("amount", "distinct"):
                assert columns[name][key] == full["columns"][name][key], (name, key)
    assert columns["plan"]["top"] and columns["day"]["min"] == "2024-01-01"
    # A compared column's distinct count tells a constant column (1) from the others (more).
    assert full["columns"]["amount"]["distinct"] > 1 and columns["amount"]["distinct"] > 1
    constant = stats.compared_profile(
        warehouse, shifted.mutate(amount=ibis.literal(5.0)), {"amount": ref["amount"]}
    )
    assert constant["columns"]["amount"]["distinct"] == 1
    drift = stats.column_drift(
        ref["amount"], columns["amount"], (ref["amount"]["histogram"], histogram)
    )
    assert drift is not None and drift["psi"] > 0.2


def test_quantiles_are_interpolated_within_one_bin() -> None:
    histogram = {"lo": 0.0, "hi": 100.0, "width": 1.0, "counts": [10] * 100, "below": 0, "above": 0}
    result = stats.quantiles(histogram)
    assert result["0.5"] == pytest.approx(50.0) and result["0.01"] == pytest.approx(1.0)
    skewed = {"lo": 0.0, "hi": 10.0, "width": 0.1, "counts": [90] + [0] * 98 + [10]}
    skewed |= {"below": 0, "above": 0}
    assert stats.quantiles(skewed)["0.5"] < 0.1 and stats.quantiles(skewed)["0.95"] > 9.9


def _numpy_histogram(values: np.ndarray, bins: stats.Bins) -> dict[str, object]:
    inside = values[(values >= bins.lo) & (values < bins.hi)]
    index = np.floor(inside / bins.width).astype(int) - round(bins.lo / bins.width)
    return {
        "lo": bins.lo,
        "hi": bins.hi,
        "width": bins.width,
        "counts": np.bincount(index, minlength=bins.count).tolist(),
        "below": int((values < bins.lo).sum()),
        "above": int((values >= bins.hi).sum()),
    }


@pytest.mark.parametrize("shift", [0.0, 0.3, 1.5])
def test_psi_on_binned_deciles_matches_psi_on_exact_deciles(shift: float) -> None:
    generator = np.random.default_rng(7)
    reference = generator.normal(3.0, 2.0, 200_000)
    current = generator.normal(3.0 + shift, 2.2, 200_000)
    bins = stats.Bins.covering(float(reference.min()), float(reference.max()))
    binned = stats.psi(_numpy_histogram(reference, bins), _numpy_histogram(current, bins))
    # Exact: the reference's deciles as edges, open-ended outer groups, the same share floor.
    edges = np.quantile(reference, np.linspace(0, 1, 11))[1:-1]
    expected = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=10)
    actual = np.bincount(np.searchsorted(edges, current, side="right"), minlength=10)
    e = np.maximum(expected / expected.sum(), stats.SHARE_FLOOR)
    a = np.maximum(actual / actual.sum(), stats.SHARE_FLOOR)
    exact = float(np.sum((a - e) * np.log(a / e)))
    assert binned == pytest.approx(exact, abs=0.001)


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

    def collect_garbage(self, referenced, *, before, dry_run):  # type: ignore[no-untyped-def]
        return self.inner.collect_garbage(referenced, before=before, dry_run=dry_run)

    def table(self, location):  # type: ignore[no-untyped-def]
        return self.inner.table(location)

    def log_sink(self, log_dataset):  # type: ignore[no-untyped-def]
        return self.inner.log_sink(log_dataset)

    def check(self) -> str:
        return f"BigQuery SQL on {self.inner.check()}"


def test_bigquery_sql_of_the_same_expressions_gives_identical_statistics(warehouse, tmp_path):
    table = _table(warehouse, _write(tmp_path, "r.parquet", REFERENCE))
    bigquery = _BigQuerySqlOnDuckDB(warehouse)
    direct, translated = stats.profile(warehouse, table), stats.profile(bigquery, table)
    assert all("`" in sql for sql in bigquery.statements)
    assert any("OVER (" in sql for sql in bigquery.statements)
    assert translated == direct
    # Binned on the reference's bins, with values beyond its range: drift and monitoring's path.
    shifted = _table(
        warehouse,
        _write(tmp_path, "s.parquet", REFERENCE.replace("/ 9.7 AS amount", "/ 9.7 - 3 AS amount")),
    )
    compared = stats.compared_profile(warehouse, shifted, direct["columns"])
    assert compared["columns"]["amount"]["histogram"]["below"] > 0
    assert stats.compared_profile(bigquery, shifted, direct["columns"]) == compared
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


@pytest.mark.parametrize(
    ("lo", "hi", "integer"),
    [
        (0.0, 1.0, False),
        (-3.7, 12.25, False),
        (1e-9, 3e-9, False),
        (-5e12, -1e12, False),
        (20.0, 99.2, False),
        (0.0, 8.0, True),
        (-1000.0, 1000.0, True),
        (7.0, 7.0, True),
        (0.0, 0.0, False),
        (2.5, 2.5, False),
    ],
)
def test_bins_cover_the_range_on_the_smallest_aligned_grid(lo, hi, integer) -> None:
    bins = stats.Bins.covering(lo, hi, integer=integer)
    assert bins.on_grid() and bins.lo <= lo and hi < bins.hi
    assert 1 <= bins.count <= stats.BINS
    assert not integer or bins.width >= 1
    if hi > lo and bins.width > (1 if integer else 0):
        # Half the width would need more than BINS bins: the grid is as fine as allowed.
        half = bins.width / 2
        assert math.floor(hi / half) - math.floor(lo / half) + 1 > stats.BINS


def test_aligned_histograms_equal_a_fresh_scan_on_the_common_bins(warehouse, tmp_path):
    reference = _table(
        warehouse, _write(tmp_path, "r.parquet", "SELECT random() * 50 - 10 AS x FROM range(20000)")
    )
    # Wider, shifted left and right of the reference: a coarser grid, values on both sides.
    current = _table(
        warehouse,
        _write(tmp_path, "c.parquet", "SELECT random() * 160 - 60 AS x FROM range(20000)"),
    )
    ref = stats.profile(warehouse, reference)["columns"]["x"]["histogram"]
    cur = stats.profile(warehouse, current)["columns"]["x"]["histogram"]
    assert cur["width"] > ref["width"]
    pair = stats.aligned(ref, cur)
    assert pair is not None
    common = stats.Bins.of(pair[0])
    assert common.width == cur["width"] and common.lo <= ref["lo"] and common.hi >= ref["hi"]
    assert pair[0] == stats.histograms(warehouse, reference, {"x": common})["x"]
    assert pair[1] == stats.histograms(warehouse, current, {"x": common})["x"]
    assert pair[1]["below"] > 0 and pair[1]["above"] > 0


def test_histograms_too_far_apart_or_off_the_grid_are_not_aligned() -> None:
    def histogram(lo: float, hi: float) -> dict[str, object]:
        bins = stats.Bins.covering(lo, hi)
        return {"lo": bins.lo, "hi": bins.hi, "width": bins.width, "counts": [1] * bins.count}

    narrow, wide = histogram(0.0, 10.0), histogram(0.0, 100.0)
    for h in (narrow, wide):
        h |= {"below": 0, "above": 0}
    assert stats.aligned(narrow, narrow) == (narrow, narrow)
    # A reference range 10x narrower would keep a handful of common bins: scan again instead.
    assert stats.aligned(narrow, wide) is None
    assert stats.aligned(wide, narrow) is not None
    assert stats.aligned(narrow, narrow | {"above": 3}) is None
    assert stats.aligned(narrow | {"lo": 0.3, "hi": 10.3}, narrow) is None


def test_profile_reads_the_data_once_and_its_moments_and_distincts_hold_above_the_exact_limit(
    warehouse, tmp_path, monkeypatch
):
    rows = stats.EXACT_DISTINCT_ROWS * 2
    path = _write(
        tmp_path,
        "wide.parquet",
        f"SELECT range % 3000 AS code, range * 1.5 - 7 AS x, range AS id, "
        f"(range % 7)::VARCHAR AS c FROM range({rows})",
    )
    table = _table(warehouse, path)
    queries: list[ibis.Expr] = []
    execute = warehouse.execute
    monkeypatch.setattr(warehouse, "execute", lambda expr: queries.append(expr) or execute(expr))
    columns = stats.profile(warehouse, table)["columns"]
    # The row count and ranges (from Parquet metadata), then one pass over the values.
    assert len(queries) == 2
    for name, values in (("code", np.arange(rows) % 3000), ("x", np.arange(rows) * 1.5 - 7)):
        assert columns[name]["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert columns[name]["std"] == pytest.approx(values.std(ddof=1), rel=1e-12)
    # Exact for categories and for integers spanning under VALUE_GROUPS values; estimated per
    # histogram bin and summed for the others.
    assert (columns["code"]["distinct"], columns["c"]["distinct"]) == (3000, 7)
    assert columns["id"]["distinct"] == pytest.approx(rows, rel=0.1)
    assert columns["x"]["distinct"] == pytest.approx(rows, rel=0.1)


def test_nan_and_infinite_values_leave_a_profile_without_the_statistics_they_undefine(
    warehouse, tmp_path
):
    path = _write(
        tmp_path,
        "odd.parquet",
        "SELECT CASE WHEN range = 3 THEN 'nan'::DOUBLE ELSE range END AS with_nan, "
        "CASE WHEN range = 3 THEN 'inf'::DOUBLE ELSE range END AS with_inf, "
        "range * 0.5 AS plain FROM range(20)",
    )
    columns = stats.profile(warehouse, _table(warehouse, path))["columns"]
    for name in ("with_nan", "with_inf"):
        assert (columns[name]["mean"], columns[name]["std"], columns[name]["nulls"]) == (
            None,
            None,
            0,
        )
    assert columns["with_inf"]["max"] is None and "histogram" not in columns["with_inf"]
    assert columns["plain"]["std"] == pytest.approx(np.std(np.arange(20) * 0.5, ddof=1))
