"""The shared pieces of every diagnosis: findings, their ranking, numbers, tables and progress."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from mlops_kit import stats
from mlops_kit.cli import output
from mlops_kit.findings import Finding, Severity, names, percent, ranked
from mlops_kit.reports import Page, format_number


def test_findings_rank_by_severity_then_weight_and_serialise() -> None:
    info = Finding(Severity.info, "rows 10 → 11", weight=5.0)
    small = Finding(Severity.broken, "a is empty", {"columns": ["a"]}, "the source", weight=0.2)
    large = Finding(Severity.broken, "b is empty", {"columns": ["b"]}, weight=0.9)
    warning = Finding(Severity.warning, "c shifted", weight=3.0)
    assert ranked([info, small, warning, large]) == [large, small, warning, info]
    assert small.to_dict() == {
        "severity": "broken",
        "statement": "a is empty",
        "evidence": {"columns": ["a"]},
        "cause": "the source",
    }
    assert str(small) == "a is empty (likely cause: the source)"
    assert (
        names(["a", "b", "c"]) == "a, b and c" and names(list("abcdefg"), 3) == "a, b, c and 4 more"
    )
    assert percent(0.903) == "90%" and percent(0.025) == "2.5%" and percent(0.0) == "0%"


def test_class_shift_states_total_variation_and_chi_square() -> None:
    before = {"beginner": 450, "intermediate": 300, "advanced": 250}
    after = {"beginner": 750, "intermediate": 130, "advanced": 120}
    shift = stats.class_shift(before, after)
    assert shift["total_variation"] == pytest.approx(0.3)
    assert shift["pvalue"] < 1e-30
    same = stats.class_shift(before, {k: v * 2 for k, v in before.items()})
    assert same["total_variation"] == 0.0 and same["pvalue"] == pytest.approx(1.0)
    assert stats.class_shift({}, after)["pvalue"] == 1.0


def test_one_number_rule() -> None:
    assert format_number(557.0) == "557" and format_number(557) == "557"
    assert format_number(0.6301615) == "0.6302" and format_number(1234567.891) == "1.235e+06"
    assert format_number(None) == "" and format_number("x") == "x"


def test_wide_tables_keep_headers_whole_and_the_row_names_readable() -> None:
    columns = ["column", "null rate", "distinct", "mean", "drift", "new values"]
    cells = [
        ["monthly_charges", "0.000 → 0.000", "100 → 98", "59.6 → 59.6", "PSI 0.003 KS 0.010", ""]
    ]
    assert output.column_widths(columns, cells, 200) == [None] * 6
    widths = output.column_widths(columns, cells, 70)
    assert widths[0] == len("monthly_charges")
    assert all(
        w is not None and w >= len(c.split()[0]) for w, c in zip(widths, columns, strict=True)
    )
    assert sum(w or 0 for w in widths) + 3 * len(columns) + 1 <= 70


def test_progress_only_on_a_terminal_and_never_with_json(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_kit.cli.progress import progress

    monkeypatch.delenv("CI", raising=False)
    for terminal, fmt, shown in (
        (True, output.OutputFormat.table, True),
        (True, output.OutputFormat.json, False),
        (False, output.OutputFormat.table, False),
    ):
        stream = io.StringIO()
        console = Console(file=stream, force_terminal=terminal, width=80)
        monkeypatch.setattr(output, "err_console", console)
        with progress(fmt) as drawn:
            drawn.start("comparing churn@1 with churn@2")
        assert ("comparing churn@1" in stream.getvalue()) is shown, (terminal, fmt)


def test_charts_have_a_value_axis_and_intervals_error_bars() -> None:
    page = Page("t")
    page.bars("shares", ["a", "b"], {"x": [0.2, 0.7]})
    page.intervals(
        "accuracy by hour", ["0", "1"], [0.9, 0.2], [(0.85, 0.95), (0.1, 0.3)], flagged=[1]
    )
    html = page.render()
    assert "share of rows" in html and ">1<" in html and ">0.5<" in html  # axis label and ticks
    assert html.count("<path") == 2 and "#e15759" in html  # one error bar each, the flagged red
