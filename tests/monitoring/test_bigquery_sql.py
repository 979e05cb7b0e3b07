"""The BigQuery SQL of the monitoring statistics gives the same results as the DuckDB SQL.

No emulator runs BigQuery's SQL faithfully, so the BigQuery text that ibis compiles is translated
back to DuckDB by sqlglot and run on the same data. Where sqlglot keeps a BigQuery construct whose
meaning differs on DuckDB, the test rewrites it to its BigQuery meaning first (listed in
``_bigquery_meaning``), so a wrong BigQuery expression still fails.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import duckdb
import ibis
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from mlops_kit.monitoring import metrics

START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
END = START + timedelta(days=14)


def _bigquery_meaning(node: exp.Expression) -> exp.Expression:
    # BigQuery numbers days of the week 1 (Sunday) to 7; DuckDB's EXTRACT gives 0 (Sunday) to 6.
    if isinstance(node, exp.Extract) and node.this.name.upper() == "DAYOFWEEK":
        return exp.Add(this=node.copy(), expression=exp.Literal.number(1))
    return node


def _as_duckdb(bigquery_sql: str) -> str:
    tree = sqlglot.parse_one(bigquery_sql, read="bigquery")
    return tree.transform(_bigquery_meaning).sql(dialect="duckdb")


@pytest.fixture
def warehouse() -> duckdb.DuckDBPyConnection:
    rng = random.Random(3)
    con = duckdb.connect()
    # The same three-part names the BigQuery expression uses: project.dataset.table.
    con.execute("ATTACH ':memory:' AS proj")
    con.execute("CREATE SCHEMA proj.mon")
    con.execute(
        "CREATE TABLE proj.mon.prediction_log (logged_at TIMESTAMPTZ, model_name VARCHAR, "
        "model_version BIGINT, request_id VARCHAR, features JSON, prediction VARCHAR, score DOUBLE)"
    )
    con.execute(
        "CREATE TABLE proj.mon.ground_truth (request_id VARCHAR, label VARCHAR, logged_at TIMESTAMPTZ)"
    )
    log, truth = [], []
    for i in range(3000):
        at = START + timedelta(minutes=rng.randrange(14 * 24 * 60))
        score = rng.random()
        features = {
            "country": rng.choice(["de", "fr", None]),
            "amount": round(rng.uniform(0, 50), 2),
        }
        model = ("m", 1) if i % 10 else ("other", 1)
        log.append((at, *model, f"r{i}", json.dumps(features), str(int(score > 0.5)), score))
        label = str(int(rng.random() < score))
        if i % 3:
            truth.append((f"r{i}", str(1 - int(label)), at + timedelta(hours=1)))
            truth.append((f"r{i}", label, at + timedelta(hours=2)))  # the correction wins
    con.register(
        "log_rows", pa.table(list(zip(*log, strict=True)), names=[f"c{i}" for i in range(7)])
    )
    con.register("truth_rows", pa.table(list(zip(*truth, strict=True)), names=["c0", "c1", "c2"]))
    con.execute("INSERT INTO proj.mon.prediction_log SELECT * FROM log_rows")
    con.execute("INSERT INTO proj.mon.ground_truth SELECT * FROM truth_rows")
    return con


def _sums(dialect: str, task: metrics.Task = "classification") -> ibis.Table:
    log = metrics.prediction_log_table(("proj", "mon"))
    truth = metrics.ground_truth_table(("proj", "mon"))
    predictions = metrics.logged_predictions(log, "m", 1, START, END)
    live = metrics.live_rows(
        predictions, truth, {"amount": "float64", "country": "string"}, dialect
    )
    return metrics.sliced_sums(live, ["hour_of_day", "day_of_week", "country"], task, "1")


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> dict[tuple[str, str], dict[str, object]]:
    table = con.execute(sql).to_arrow_table().to_pylist()
    return {(row["slice_column"], row["slice_value"]): row for row in table}


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_bigquery_sql_matches_duckdb_sql(warehouse, task) -> None:
    on_duckdb = _rows(warehouse, ibis.to_sql(_sums("duckdb", task), dialect="duckdb"))
    bigquery_sql = ibis.to_sql(_sums("bigquery", task), dialect="bigquery")
    assert "JSON_EXTRACT_SCALAR" in bigquery_sql and "`proj`.`mon`.`prediction_log`" in bigquery_sql
    on_bigquery = _rows(warehouse, _as_duckdb(bigquery_sql))
    assert on_bigquery.keys() == on_duckdb.keys()
    assert len([k for k in on_duckdb if k[0] == "day_of_week"]) == 7
    assert {k[1] for k in on_duckdb if k[0] == "country"} == {"de", "fr", "(null)"}
    for key, row in on_duckdb.items():
        for column, value in row.items():
            if isinstance(value, float):
                assert on_bigquery[key][column] == pytest.approx(value, rel=1e-9), (key, column)
            else:
                assert on_bigquery[key][column] == value, (key, column)


def test_the_numbers_are_right(warehouse) -> None:
    """Independent of both compilers: counts by weekday and accuracy from the raw rows."""
    rows = _rows(warehouse, ibis.to_sql(_sums("duckdb"), dialect="duckdb"))
    raw = warehouse.execute(
        "SELECT epoch(p.logged_at), p.prediction, g.label FROM proj.mon.prediction_log p "
        "JOIN (SELECT request_id, arg_max(label, logged_at) AS label FROM proj.mon.ground_truth "
        "GROUP BY 1) g USING (request_id) WHERE p.model_name = 'm'"
    ).fetchall()
    monday = [r for r in raw if datetime.fromtimestamp(r[0], UTC).weekday() == 0]
    assert rows[("day_of_week", "0")]["n"] == len(monday)
    assert rows[("overall", "all")]["n"] == len(raw)
    assert rows[("overall", "all")]["correct"] == sum(p == y for _, p, y in raw)


def _reliability(dialect: str) -> ibis.Table:
    from mlops_kit.monitoring.estimation import reliability_bins

    log = metrics.prediction_log_table(("proj", "mon"))
    truth = metrics.ground_truth_table(("proj", "mon"))
    history = log.filter(log.model_name == "m", log.model_version == 1, log.logged_at < END)
    return reliability_bins(metrics.live_rows(history, truth, {}, dialect), "1")


def test_the_calibration_bins_are_the_same_on_bigquery(warehouse) -> None:
    on_duckdb = warehouse.execute(ibis.to_sql(_reliability("duckdb"), dialect="duckdb")).fetchall()
    bigquery_sql = ibis.to_sql(_reliability("bigquery"), dialect="bigquery")
    on_bigquery = warehouse.execute(_as_duckdb(bigquery_sql)).fetchall()
    assert len(on_bigquery) == len(on_duckdb)
    for got, expected in zip(sorted(on_bigquery), sorted(on_duckdb), strict=True):
        assert got == pytest.approx(expected, rel=1e-9)
    assert sorted(row[0] for row in on_duckdb) == list(range(10))
    # Independent of both compilers: every labelled prediction of the model lands in one bin.
    labelled = warehouse.execute(
        "SELECT count(*) FROM proj.mon.prediction_log p WHERE p.model_name = 'm' AND "
        "request_id IN (SELECT request_id FROM proj.mon.ground_truth)"
    ).fetchone()[0]
    assert sum(row[1] for row in on_duckdb) == labelled


def test_the_weak_slice_search_is_the_same_on_bigquery(warehouse) -> None:
    """Every query of the search (distinct counts, deciles, sums) gives the same rows."""
    from mlops_kit.monitoring.weak_slices import candidates, find_weak_slices

    answers: dict[str, list[list[dict[str, object]]]] = {"duckdb": [], "bigquery": []}

    def run(dialect: str):
        def execute(expr):
            sql = ibis.to_sql(expr, dialect=dialect)
            table = warehouse.execute(
                _as_duckdb(sql) if dialect == "bigquery" else sql
            ).to_arrow_table()
            answers[dialect].append(
                sorted(
                    table.to_pylist(), key=lambda row: json.dumps(row, sort_keys=True, default=str)
                )
            )
            return table

        log = metrics.prediction_log_table(("proj", "mon"))
        truth = metrics.ground_truth_table(("proj", "mon"))
        predictions = metrics.logged_predictions(log, "m", 1, START, END)
        features = {"amount": "float64", "country": "string"}
        live = metrics.live_rows(predictions, truth, features, dialect)
        return find_weak_slices(
            execute,
            live.filter(live._label.notnull()),
            candidates(features, ["hour_of_day"]),
            "classification",
            "1",
            min_count=1,
        )

    assert run("bigquery") == run("duckdb")
    assert len(answers["duckdb"]) == 2  # distinct counts, then the sums of every candidate
    for got, expected in zip(answers["bigquery"], answers["duckdb"], strict=True):
        assert len(got) == len(expected)
        for row_got, row_expected in zip(got, expected, strict=True):
            assert row_got.keys() == row_expected.keys()
            for column, value in row_expected.items():
                if isinstance(value, float):
                    assert row_got[column] == pytest.approx(value, rel=1e-9), column
                else:
                    assert row_got[column] == value, column
    deciles = {row["slice_value"] for row in answers["duckdb"][1] if row["slice_column"] == "_k1"}
    assert len(deciles) == 10 and all(" – " in value for value in deciles)
