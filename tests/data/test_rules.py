"""The ``--fail-on`` rules: one table gives the parser, the CLI help and the README's list."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlops_kit import data
from mlops_kit.errors import ConfigError

README = Path(__file__).parents[2] / "README.md"


def readme_rules() -> str:
    """The README's list of rules, as the table says it."""
    rows = [f"| `{rule.syntax}` | {rule.breaks_when} | {rule.unit or '—'} |" for rule in data.RULES]
    return "\n".join(["| rule | breaks when | X is |", "|---|---|---|", *rows])


def test_the_readme_lists_every_rule_with_its_unit() -> None:
    expected = readme_rules()
    assert expected in README.read_text(encoding="utf-8"), (
        f"update the --fail-on rules in README.md's data section to:\n{expected}"
    )


def test_rules_parse_with_their_limits() -> None:
    parsed = data.parse_rules(" conformance, psi > 0.2,rows>.1 ,")
    assert [(rule.kind.name, rule.limit) for rule in parsed] == [
        ("conformance", 0.0),
        ("psi", 0.2),
        ("rows", 0.1),
    ]
    assert data.parse_rules("") == []


@pytest.mark.parametrize("text", ["psi>>1", "psi", "schema>1", "psi>-1", "psi<0.2", "drift>1"])
def test_a_malformed_rule_names_itself_and_every_rule(text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        data.parse_rules(f"conformance,{text}")
    message = str(raised.value)
    assert message.startswith(f"unknown --fail-on rule {text!r}: use conformance, schema, psi>X")
    assert "\n" not in message


def test_a_bad_rule_fails_in_one_line_before_the_diff_reads_anything(project_dir, run_cli) -> None:
    # Neither the dataset nor the file exists: the rule is the first thing checked.
    result = run_cli("data", "diff", "churn@1", "missing.csv", "--fail-on", "conformance,psi>>1")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown --fail-on rule 'psi>>1': use conformance, schema, psi>X, ks>X, js>X, "
        "nulls>X or rows>X (X a number ≥ 0)"
    ]


def test_the_cli_help_describes_every_rule(run_cli) -> None:
    result = run_cli("data", "diff", "--help")
    text = " ".join(result.stdout.split())
    for rule in data.RULES:
        assert f"{rule.syntax}:" in text


def test_the_cli_reads_the_rules_without_loading_the_database_layer() -> None:
    code = (
        "import sys; import mlops_kit.cli;"
        "print(sorted(m for m in ('sqlalchemy', 'ibis', 'mlops_kit.data.versions') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_of_the_package_resolves() -> None:
    for name in data.__all__:
        assert getattr(data, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'snapshots_of'"):
        _ = data.snapshots_of  # type: ignore[attr-defined]
