"""Promote, rollback and history: aliases move atomically and every move is audited."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mlops_kit import models
from mlops_kit.db.models.registry import ModelVersionRow
from mlops_kit.errors import ConfigError, ConflictError, IntegrityError, NotFoundError
from tests.models.conftest import write_bytes


def _register(kit: Any, tmp_path: Path, count: int, name: str = "clf") -> None:
    for number in range(1, count + 1):
        models.register(kit, name, write_bytes(tmp_path / f"v{number}" / "model.bin", 64, number))


def test_promote_rollback_history_round_trip_with_two_rollbacks_in_a_row(
    kit: Any, tmp_path: Path
) -> None:
    _register(kit, tmp_path, 3)
    models.promote(kit, "clf@1", "production", "first release", actor="ana")
    models.promote(kit, "clf@2", "production", "better f1", actor="ana")
    models.promote(kit, "clf@3", "production", "retrained on May data", actor="bo")
    assert models.get_version(kit, "clf@production").version == 3

    first = models.rollback(kit, "clf", "production", reason="labels everyone beginner")
    assert (first.from_version, first.to_version, first.action) == (3, 2, "rollback")
    second = models.rollback(kit, "clf", "production", reason="v2 is wrong too", actor="cy")
    assert (second.from_version, second.to_version) == (2, 1)
    assert models.get_version(kit, "clf@production").version == 1
    with pytest.raises(ConflictError, match="no previous holder"):
        models.rollback(kit, "clf", "production", reason="again")

    events = models.history(kit, "clf", "production")
    assert [(e.action, e.from_version, e.to_version, e.actor) for e in events] == [
        ("promote", None, 1, "ana"),
        ("promote", 1, 2, "ana"),
        ("promote", 2, 3, "bo"),
        ("rollback", 3, 2, first.actor),
        ("rollback", 2, 1, "cy"),
    ]
    assert events[3].reason == "labels everyone beginner"
    # Which version was live at any moment.
    assert models.holder_at(kit, "clf", "production", events[0].at - timedelta(seconds=1)) is None
    assert models.holder_at(kit, "clf", "production", events[2].at) == 3
    assert models.holder_at(kit, "clf", "production", events[4].at) == 1

    # After promoting again, rollback returns to the holder before that promotion.
    models.promote(kit, "clf@3", "production", "fixed upstream source")
    assert models.rollback(kit, "clf", "production", reason="check").to_version == 1


def test_aliases_are_unique_per_model_and_independent(kit: Any, tmp_path: Path) -> None:
    _register(kit, tmp_path, 2)
    models.promote(kit, "clf@1", "champion", "baseline")
    models.promote(kit, "clf@2", "challenger", "candidate")
    models.promote(kit, "clf@challenger", "champion", "challenger won")  # promote by alias
    assert models.get_version(kit, "clf@champion").aliases == ["challenger", "champion"]
    assert models.get_version(kit, "clf@1").aliases == []
    assert [e.alias for e in models.history(kit, "clf")] == ["champion", "challenger", "champion"]
    with pytest.raises(ConflictError, match="already is version 2"):
        models.promote(kit, "clf@2", "champion", "again")


def test_rollback_to_an_explicit_earlier_holder(kit: Any, tmp_path: Path) -> None:
    _register(kit, tmp_path, 3)
    for number in (1, 2, 3):
        models.promote(kit, f"clf@{number}", "prod", f"release {number}")
    assert models.rollback(kit, "clf", "prod", to=1, reason="back to baseline").to_version == 1
    with pytest.raises(ConflictError, match="version 3 is not an earlier holder"):
        models.rollback(kit, "clf", "prod", to=3, reason="x")


def test_rollback_verifies_the_target_artifact_and_moves_nothing_if_broken(
    kit: Any, tmp_path: Path
) -> None:
    _register(kit, tmp_path, 2)
    models.promote(kit, "clf@1", "prod", "one")
    models.promote(kit, "clf@2", "prod", "two")
    kit.artifacts.path_of("clf/1/model.bin").write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match=r"clf/1/model\.bin"):
        models.rollback(kit, "clf", "prod", reason="v2 bad")
    assert models.get_version(kit, "clf@prod").version == 2
    assert len(models.history(kit, "clf", "prod")) == 2
    kit.artifacts.path_of("clf/1/model.bin").unlink()
    with pytest.raises(IntegrityError, match="is missing"):
        models.rollback(kit, "clf", "prod", reason="v2 bad")


def test_bad_alias_requests_change_nothing(kit: Any, tmp_path: Path) -> None:
    _register(kit, tmp_path, 2)
    with kit.metadata.session() as session:
        row = session.query(ModelVersionRow).filter_by(version=2).one()
        row.status = "failed"
    with pytest.raises(ConflictError, match="clf@2 is FAILED: only a READY version"):
        models.promote(kit, "clf@2", "prod", "try")
    with pytest.raises(NotFoundError, match="has no alias 'prod': nothing to roll back"):
        models.rollback(kit, "clf", "prod", reason="x")
    models.promote(kit, "clf@1", "prod", "one")
    with pytest.raises(ConflictError, match="no previous holder"):
        models.rollback(kit, "clf", "prod", reason="x")
    with pytest.raises(ConfigError, match="a reason is required"):
        models.promote(kit, "clf@1", "staging", "  ")
    for alias in ("Prod", "123", "latest", "has space"):
        with pytest.raises(ConfigError, match="invalid alias"):
            models.promote(kit, "clf@1", alias, "x")
    with pytest.raises(NotFoundError, match="unknown model 'nope'"):
        models.promote(kit, "nope@1", "prod", "x")
    assert [e.to_version for e in models.history(kit, "clf")] == [1]
