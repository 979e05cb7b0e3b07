"""Table references of a ``table:`` source: BigQuery's naming rules, quoting, qualification."""

from __future__ import annotations

import pytest

from mlops_kit.errors import ConfigError
from mlops_kit.warehouse.table_refs import TableRef


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("customers", TableRef("customers")),
        ("ds_source.customers", TableRef("customers", "ds_source")),
        ("my-project-42.ds_source.customers", TableRef("customers", "ds_source", "my-project-42")),
        ("`my-project-42.ds.t`", TableRef("t", "ds", "my-project-42")),
        ("example.com:my-proj.ds.t", TableRef("t", "ds", "example.com:my-proj")),
        ("ds.daily-2024 copy", TableRef("daily-2024 copy", "ds")),
    ],
)
def test_parses_what_bigquery_accepts(text: str, expected: TableRef) -> None:
    assert TableRef.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "x`; DROP TABLE y; --",
        'a"b',
        "My-Project.ds.t",  # projects are lowercase
        "pro.ds.t",  # too short for a project
        "my-project-.ds.t",  # ends with a hyphen
        "my-project.ds-x.t",  # hyphen in a dataset
        "a.b.c.d",
        "",
        "ds.",
    ],
)
def test_refuses_what_bigquery_refuses(text: str) -> None:
    with pytest.raises(ConfigError, match="invalid table name"):
        TableRef.parse(text)


def test_qualifies_only_the_missing_parts_and_quotes_each() -> None:
    full = TableRef.parse("my-project.ds_source.customers")
    assert full.qualified("other-project", "ds") == full
    assert full.quoted("`") == "`my-project`.`ds_source`.`customers`"
    short = TableRef.parse("customers").qualified("my-project", "ds")
    assert short.quoted("`") == "`my-project`.`ds`.`customers`"
    assert TableRef.parse("s.t").quoted('"') == '"s"."t"'
    assert str(full) == "my-project.ds_source.customers"
