"""Reading the registry costs a fixed number of SQL statements, whatever the model's size.

A resolve of ``NAME@ALIAS`` reads the version and then its whole lineage in one statement; a
listing reads the versions and then their metrics and aliases in one. A lazy load of an ORM
relationship, or a query per version, would add statements here and fail these tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from mlops_kit import models
from mlops_kit.errors import NotFoundError
from tests.models.conftest import METRICS, train_classifier


@contextmanager
def statements(kit: Any) -> Iterator[list[str]]:
    """The SQL statements the block sends to the metadata database (transaction control aside)."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            sent.append(statement)

    event.listen(kit.metadata.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(kit.metadata.engine, "before_cursor_execute", record)


def count(kit: Any, action: Callable[[], object]) -> int:
    with statements(kit) as sent:
        action()
    return len(sent)


@pytest.fixture
def registry(kit: Any, tmp_path: Path) -> Any:
    """Model ``m`` with three versions (metrics, params, tags), ``production`` on version 2."""
    artifact = train_classifier(tmp_path / "model")
    (tmp_path / "metrics.json").write_text(json.dumps(METRICS), encoding="utf-8")
    for number in range(3):
        models.register(
            kit,
            "m",
            artifact,
            metrics=tmp_path / "metrics.json",
            lineage=models.Lineage(params={"C": number}, tags={"team": "growth"}),
        )
    models.promote(kit, "m@2", "production", "the best one")
    return kit


def test_resolving_an_alias_with_its_lineage_takes_two_statements(registry: Any) -> None:
    found: list[models.ModelVersion] = []
    assert count(registry, lambda: found.append(models.get_version(registry, "m@production"))) == 2
    (version,) = found
    # The whole lineage came with those two statements.
    assert (version.version, version.aliases) == (2, ["production"])
    assert version.metrics == {"accuracy": 0.91, "f1": 0.88}
    assert version.slices == {"hour": {"3": {"accuracy": 0.4}}}
    assert (version.params, version.tags) == ({"C": "1"}, {"team": "growth"})
    assert version.files[0]["path"] == "model.joblib" and "package" in version.components
    # A version number and ``latest`` resolve the same way.
    assert count(registry, lambda: models.get_version(registry, "m@1")) == 2
    assert count(registry, lambda: models.get_version(registry, "m")) == 2


def test_listing_takes_two_statements_for_any_number_of_versions(registry: Any) -> None:
    listed: list[list[models.ModelVersionSummary]] = []
    assert count(registry, lambda: listed.append(models.list_versions(registry, "m"))) == 2
    assert count(registry, lambda: models.list_versions(registry, "m", limit=2)) == 2
    (every,) = listed
    assert [(v.version, v.aliases) for v in every] == [(3, []), (2, ["production"]), (1, [])]
    assert all(v.metrics == {"accuracy": 0.91, "f1": 0.88} for v in every)
    newest = models.list_versions(registry, "m", limit=2)
    assert [v.version for v in newest] == [3, 2]


def test_a_miss_still_names_what_exists(registry: Any) -> None:
    with pytest.raises(NotFoundError, match="no alias 'staging'.*its aliases are production"):
        models.get_version(registry, "m@staging")
    with pytest.raises(NotFoundError, match="unknown model 'x'.*known models: m"):
        models.list_versions(registry, "x")
    with pytest.raises(NotFoundError, match="has no version 9"):
        models.get_version(registry, "m@9")
