"""Diffs of dataset versions, starting with the churn incident the kit exists to catch."""

from __future__ import annotations

import json
import re

import pytest

from mlops_kit import data
from mlops_kit.errors import ConfigError
from tests.conftest import render_in_chromium
from tests.data.conftest import CHURN_V1, CHURN_V2, write


@pytest.fixture
def project(project_dir, tmp_path):  # type: ignore[no-untyped-def]
    """Two churn versions on the local twin of a fresh project, as CSV files from a data-prep job."""
    write(tmp_path / "churn_v1.csv", CHURN_V1)
    write(tmp_path / "churn_v2.csv", CHURN_V2)
    return tmp_path


def test_churn_incident_diff_names_the_broken_columns_with_counts_and_examples(project, run_cli):
    assert (
        run_cli("data", "snapshot", "churn", "--from", str(project / "churn_v1.csv")).exit_code == 0
    )
    assert (
        run_cli("data", "snapshot", "churn", "--from", str(project / "churn_v2.csv")).exit_code == 0
    )

    # The compared version may be named as everywhere else: a bare name is the latest.
    result = run_cli("data", "diff", "churn@1", "churn", "--format", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["a"]["ref"], summary["b"]["ref"]) == ("churn@1", "churn@2")
    conformance = {k: v for k, v in summary["conformance"].items() if v["nonconforming"]}
    assert set(conformance) == {"tenure", "monthly_charges"}
    assert conformance["tenure"]["nonconforming"] == 75
    assert conformance["tenure"]["examples"] == [["unknown", 75]]
    assert conformance["monthly_charges"]["nonconforming"] == 120 + 48
    assert conformance["monthly_charges"]["examples"] == [["N/A", 120], ["#VALUE!", 48]]
    assert {c["name"] for c in summary["schema"]["retyped"]} == {"tenure", "monthly_charges"}
    # The findings come first and name the broken columns, worst first, with the numbers.
    assert next(iter(summary)) == "findings"
    first, second = summary["findings"][:2]
    assert first["severity"] == second["severity"] == "broken"
    assert first["evidence"]["columns"] == ["monthly_charges"]
    assert second["evidence"]["columns"] == ["tenure"]
    assert "168 of 3000 values in churn@2" in first["statement"]
    assert "'N/A' ×120" in first["statement"] and first["cause"]

    table = run_cli("data", "diff", "churn@1", "churn@2", "--fail-on", "conformance,psi>0.2")
    assert table.exit_code == 1
    assert table.stdout.startswith("Findings")
    assert table.stdout.index("monthly_charges: 168") < table.stdout.index("schema changes")
    assert re.search(r"tenure .*int64 .*75 .*'unknown' ×75", table.stdout)
    assert "monthly_charges" in table.stdout and "'N/A' ×120" in table.stdout
    failures = [line for line in table.stderr.splitlines() if line.startswith("fail:")]
    assert len(failures) == 2
    assert "support_calls" not in table.stderr and "contract" not in table.stderr


def test_identical_versions_pass_every_rule(project, run_cli):
    run_cli("data", "snapshot", "churn", "--from", str(project / "churn_v1.csv"))
    run_cli("data", "snapshot", "churn", "--from", str(project / "churn_v1.csv"), "--force")
    result = run_cli(
        "data",
        "diff",
        "churn@1",
        "churn@2",
        "--fail-on",
        "conformance,schema,psi>0.01,ks>0.01,js>0.01,nulls>0,rows>0",
    )
    assert result.exit_code == 0, result.stderr
    assert "identical content" in result.stdout


def test_diff_against_a_file_with_keys_drift_and_html(project, run_cli, local_kit, tmp_path):
    run_cli("data", "snapshot", "churn", "--from", str(project / "churn_v1.csv"))
    changed = write(
        tmp_path / "next.parquet",
        CHURN_V1.replace("range(3000)", "range(100, 3100)")
        .replace("range % 9 AS support_calls", "(range % 9) * 3 AS support_calls")
        .replace("['month', 'year', 'two_year']", "['month', 'year', 'weekly']"),
    )
    page = tmp_path / "diff.html"
    result = data.diff(local_kit, "churn@1", changed, key="customer_id")
    keys = result.summary["keys"]
    assert (keys["added"], keys["removed"]) == (100, 100)
    assert keys["examples"]["removed"] == ["0", "1", "2", "3", "4"]
    assert keys["changed"] > 2000
    columns = result.summary["columns"]
    assert columns["support_calls"]["drift"]["psi"] > 0.2
    assert columns["tenure"]["drift"]["psi"] < 0.05
    assert columns["contract"]["categories"]["new"] == ["weekly"]
    assert columns["contract"]["categories"]["vanished"] == ["two_year"]
    assert columns["contract"]["drift"]["js"] > 0.3
    broken = result.violations("psi>0.2")
    assert f"psi: support_calls = {columns['support_calls']['drift']['psi']:.3f} > 0.2" in broken
    assert not any("tenure" in line for line in broken)
    cli = run_cli(
        "data", "diff", "churn@1", str(changed), "--key", "customer_id", "--html", str(page)
    )
    assert cli.exit_code == 0, cli.stderr
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "support_calls" in html
    assert not re.search(r"(src|href)=\"https?:", html) and "<script" not in html
    assert not list((local_kit.warehouse.versions_root / "churn" / ".staging").iterdir())


def test_bad_diff_inputs(project, run_cli, local_kit):
    run_cli("data", "snapshot", "churn", "--from", str(project / "churn_v1.csv"))
    with pytest.raises(ConfigError, match="unknown --fail-on rule 'psi>>1'"):
        data.diff(local_kit, "churn@1", "churn@1").violations("psi>>1")
    with pytest.raises(ConfigError, match="key column 'nope'"):
        data.diff(local_kit, "churn@1", "churn@1", key="nope")
    with pytest.raises(ConfigError, match="not unique"):
        data.diff(local_kit, "churn@1", "churn@1", key="contract")
    result = run_cli("data", "diff", "churn@1", str(project / "missing.csv"))
    assert result.exit_code == 3 and "no such file" in result.stderr
    result = run_cli("data", "diff", "churn@1", "churn@7")
    assert result.exit_code == 3 and "no version 7" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_lists_shows_and_profiles(project, run_cli):
    created = run_cli(
        "data",
        "snapshot",
        "churn",
        "--from",
        str(project / "churn_v1.csv"),
        "-d",
        "training data",
        "--tag",
        "team=ml",
        "--format",
        "json",
    )
    assert json.loads(created.stdout)["created"] is True
    again = run_cli("data", "snapshot", "churn", "--from", str(project / "churn_v1.csv"))
    assert "identical content is already churn@1" in again.stdout
    listed = json.loads(run_cli("data", "versions", "churn", "--format", "json").stdout)
    assert [v["ref"] for v in listed] == ["churn@1"]
    shown = json.loads(run_cli("data", "show", "churn@latest", "--format", "json").stdout)
    assert shown["tags"] == {"team": "ml"} and shown["row_count"] == 3000
    profiled = run_cli("data", "profile", "churn@1")
    assert profiled.exit_code == 0 and "monthly_charges" in profiled.stdout
    assert run_cli("data", "snapshot", "churn", "--tag", "oops").exit_code == 2


@pytest.mark.browser
def test_html_diff_opens_offline_in_chromium(project, run_cli, tmp_path):
    run_cli("data", "snapshot", "churn", "--from", str(project / "churn_v1.csv"))
    run_cli("data", "snapshot", "churn", "--from", str(project / "churn_v2.csv"))
    page = tmp_path / "diff.html"
    assert run_cli("data", "diff", "churn@1", "churn@2", "--html", str(page)).exit_code == 0
    rendered = render_in_chromium(page, tmp_path)
    assert rendered.console_errors == []
    dom = rendered.dom
    assert "Type conformance" in dom and "'unknown' ×75" in dom.replace("&#x27;", "'")
    assert dom.count("<svg") >= 4


def test_stored_histograms_on_common_bins_equal_a_fresh_scan(project, local_kit, monkeypatch):
    from mlops_kit import stats

    data.snapshot(local_kit, "churn", path=project / "churn_v1.csv")
    # The second version's charges reach 3x as far: its grid is coarser than the first's.
    wider = write(project / "wider.parquet", CHURN_V1.replace("* 0.8, 2)", "* 2.4, 2)"))
    data.snapshot(local_kit, "churn", path=wider)
    data.snapshot(local_kit, "churn", path=project / "churn_v2.csv")
    scanned: list[set[str]] = []
    original = stats.histograms

    def recording(warehouse, table, bins):  # type: ignore[no-untyped-def]
        scanned.append(set(bins))
        return original(warehouse, table, bins)

    monkeypatch.setattr(stats, "histograms", recording)
    result = data.diff(local_kit, "churn@1", "churn@2")
    # Both profiles are on aligned grids: the diff reads no histogram from the data.
    assert scanned == []
    reference, current = result.histograms["monthly_charges"]
    assert (
        reference["width"]
        == current["width"]
        > stats.profile(
            local_kit.warehouse,
            local_kit.warehouse.table(data.get_version(local_kit, "churn@1").storage),
        )["columns"]["monthly_charges"]["histogram"]["width"]
    )
    bins = stats.Bins.of(reference)
    for version, expected in (("churn@1", reference), ("churn@2", current)):
        table = local_kit.warehouse.table(data.get_version(local_kit, version).storage)
        assert original(local_kit.warehouse, table, {"monthly_charges": bins}) == {
            "monthly_charges": expected
        }
    # Text where numbers were: that column alone is binned again, as the numbers it holds.
    data.diff(local_kit, "churn@1", "churn@3")
    assert scanned == [{"tenure", "monthly_charges"}]


def test_new_and_vanished_categories_beyond_the_top_list_are_exact(local_kit, tmp_path):
    from mlops_kit import stats

    # 300 cities, more than the profile's top list holds; the current data loses the rarest
    # two and gains three rare ones, none of which reaches a top list.
    reference = "SELECT range AS id, 'city' || (range % 300) AS city FROM range(30000)"
    current = reference.replace(
        "range % 300)",
        "CASE WHEN range % 300 >= 298 THEN (range // 300) % 3 + 1000 ELSE range % 300 END)",
    )
    data.snapshot(local_kit, "cities", path=write(tmp_path / "a.parquet", reference))
    data.snapshot(local_kit, "cities", path=write(tmp_path / "b.parquet", current))
    categories = data.diff(local_kit, "cities@1", "cities@2").summary["columns"]["city"][
        "categories"
    ]
    assert categories["new"] == ["city1000", "city1001", "city1002"]
    assert categories["vanished"] == ["city298", "city299"]
    assert (categories["new_count"], categories["vanished_count"], categories["exact"]) == (
        3,
        2,
        True,
    )
    assert stats.TOP_K < 300
