"""Table references: ``[project.]dataset.table`` or ``table``, by BigQuery's naming rules.

A snapshot's ``table:`` source names a table the user typed; the reference is checked against
BigQuery's rules before any SQL is written, then quoted part by part, so a name never injects SQL
and a warehouse qualifies a short name with its own project and dataset, and a full name never twice.

The rules (https://cloud.google.com/resource-manager/docs/creating-managing-projects and
https://cloud.google.com/bigquery/docs/datasets, /tables):

- project: 6 to 30 lowercase letters, digits or hyphens, starting with a letter and not ending with
  a hyphen; a domain-scoped project is ``example.com:my-project``;
- dataset: 1 to 1,024 letters, digits or underscores;
- table: 1 to 1,024 letters, marks, digits, underscores, hyphens or spaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from mlops_kit.errors import ConfigError

_PROJECT: Final = r"(?:[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]"
_DATASET: Final = r"[A-Za-z0-9_]{1,1024}"
_TABLE: Final = r"[\w\- ]{1,1024}"
_FORMS: Final = (
    re.compile(rf"(?P<project>{_PROJECT})\.(?P<dataset>{_DATASET})\.(?P<table>{_TABLE})"),
    re.compile(rf"(?P<dataset>{_DATASET})\.(?P<table>{_TABLE})"),
    re.compile(rf"(?P<table>{_TABLE})"),
)


@dataclass(frozen=True)
class TableRef:
    """A table named by the user, qualified as far as they wrote it.

    Attributes:
        table: the table name.
        dataset: its dataset (DuckDB: schema), or None for the warehouse's own.
        project: its project (DuckDB: catalog), or None for the warehouse's own.
    """

    table: str
    dataset: str | None = None
    project: str | None = None

    @classmethod
    def parse(cls, text: str) -> TableRef:
        """Read ``project.dataset.table``, ``dataset.table`` or ``table`` (backquotes allowed).

        Raises:
            ConfigError: the name breaks BigQuery's naming rules.
        """
        name = text.strip()
        if len(name) > 2 and name[0] == name[-1] == "`":
            name = name[1:-1]
        for form in _FORMS:
            match = form.fullmatch(name)
            if match is not None and not match["table"].startswith(" "):
                parts = match.groupdict()
                return cls(parts["table"], parts.get("dataset"), parts.get("project"))
        raise ConfigError(
            f"invalid table name {text!r}: write project.dataset.table, dataset.table or table "
            "(project: lowercase letters, digits and '-'; dataset: letters, digits and '_'; "
            "table: letters, digits, '_', '-' and spaces)"
        )

    def qualified(self, project: str, dataset: str) -> TableRef:
        """This reference with the parts the user left out taken from ``project`` and ``dataset``."""
        return TableRef(self.table, self.dataset or dataset, self.project or project)

    def quoted(self, quote: str) -> str:
        """The SQL identifier, each part within ``quote`` (the parse rules exclude both quotes)."""
        parts = (self.project, self.dataset, self.table)
        return ".".join(f"{quote}{part}{quote}" for part in parts if part is not None)

    def __str__(self) -> str:
        return ".".join(part for part in (self.project, self.dataset, self.table) if part)
