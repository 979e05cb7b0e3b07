"""Protected aliases: a promotion is requested by one person and approved by another."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_kit.errors import ConflictError, NotFoundError
from mlops_kit.kit import Kit
from tests.models.conftest import train_classifier


@pytest.fixture
def protected(kit: Kit, tmp_path: Path) -> Kit:
    """``kit``'s environment protecting ``production``, with versions 1 to 3 of ``clf``."""
    from mlops_kit import models

    for seed in range(3):
        models.register(kit, "clf", train_classifier(tmp_path / f"m{seed}", seed))
    environment = kit.environment.model_copy(update={"protected_aliases": ["production"]})
    return Kit(environment)


def test_promotion_needs_another_persons_approval_and_history_names_both(protected: Kit) -> None:
    from mlops_kit import models

    first = models.request_promotion(protected, "clf@1", "production", "first", actor="ana")
    assert first.action == "request"
    with pytest.raises(NotFoundError, match="has no alias 'production'"):
        models.get_version(protected, "clf@production")
    approved = models.approve(protected, "clf", "production", actor="bo")
    assert (approved.action, approved.to_version, approved.actor) == ("approve", 1, "bo")
    assert models.get_version(protected, "clf@production").version == 1

    models.request_promotion(protected, "clf@2", "production", "better f1", actor="ana")
    assert models.pending_request(protected, "clf", "production") is not None
    with pytest.raises(ConflictError, match="ana requested clf@2 for 'production' and cannot"):
        models.approve(protected, "clf", "production", actor="ana")
    assert models.get_version(protected, "clf@production").version == 1  # refused: nothing moved
    models.approve(protected, "clf", "production", actor="cy")

    # Rollback stays one step, with no second person.
    back = models.rollback(protected, "clf", "production", reason="v2 mislabels", actor="ana")
    assert (back.from_version, back.to_version) == (2, 1)
    history = models.history(protected, "clf", "production")
    events = [(e.action, e.from_version, e.to_version, e.actor, e.reason) for e in history]
    assert events == [
        ("request", None, 1, "ana", "first"),
        ("approve", None, 1, "bo", "first (requested by ana)"),
        ("request", 1, 2, "ana", "better f1"),
        ("approve", 1, 2, "cy", "better f1 (requested by ana)"),
        ("rollback", 2, 1, "ana", "v2 mislabels"),
    ]
    # A request moved nothing: what was live when is unchanged by it.
    assert models.holder_at(protected, "clf", "production", history[2].at) == 1


def test_a_protected_alias_cannot_be_promoted_directly_and_others_can(protected: Kit) -> None:
    from mlops_kit import models

    with pytest.raises(ConflictError, match="alias 'production' is protected in environment"):
        models.promote(protected, "clf@1", "production", "skip the review", actor="ana")
    assert models.history(protected, "clf") == []
    moved = models.request_promotion(protected, "clf@1", "staging", "try it", actor="ana")
    assert moved.action == "promote"


def test_approving_nothing_and_superseded_requests_are_refused(protected: Kit) -> None:
    from mlops_kit import models

    with pytest.raises(NotFoundError, match="no promotion of clf@production awaits approval"):
        models.approve(protected, "clf", "production", actor="bo")
    models.request_promotion(protected, "clf@1", "production", "first", actor="ana")
    models.approve(protected, "clf", "production", actor="bo")
    models.request_promotion(protected, "clf@3", "production", "third", actor="ana")
    models.request_promotion(protected, "clf@2", "production", "second instead", actor="ana")
    assert models.approve(protected, "clf", "production", actor="bo").to_version == 2
    with pytest.raises(NotFoundError, match="awaits approval"):
        models.approve(protected, "clf", "production", actor="cy")
    with pytest.raises(ConflictError, match="already is version 2"):
        models.request_promotion(protected, "clf@2", "production", "again", actor="ana")


def test_cli_requests_and_approves_as_two_users(  # type: ignore[no-untyped-def]
    project_dir: Path, tmp_path: Path, run_cli, monkeypatch
) -> None:
    (project_dir / ".mlops").mkdir()
    environments = project_dir / "environments"
    environments.mkdir()
    (environments / "local.yaml").write_text("protected_aliases: [production]\n")
    monkeypatch.setenv("USER", "ana")
    artifact = train_classifier(tmp_path / "m")
    assert run_cli("models", "register", "clf", str(artifact)).exit_code == 0
    asked = run_cli("models", "promote", "clf@1", "--alias", "production", "--reason", "go")
    assert asked.exit_code == 0, asked.stderr
    assert (
        "clf@production is protected: version 1 awaits the approval of someone other than ana"
        in asked.stdout
    )
    own = run_cli("models", "approve", "clf", "--alias", "production")
    assert own.exit_code == 4
    assert "ana requested clf@1 for 'production' and cannot approve it too" in own.stderr
    monkeypatch.setenv("USER", "bo")
    approved = run_cli("models", "approve", "clf", "--alias", "production")
    assert approved.exit_code == 0, approved.stderr
    assert "clf@production -> version 1, approved by bo" in approved.stdout


def test_downgrade_keeps_approved_moves_as_promotions_and_drops_requests(protected: Kit) -> None:
    from sqlalchemy import text

    from mlops_kit import models
    from mlops_kit.db import migrate

    models.request_promotion(protected, "clf@1", "production", "first", actor="ana")
    models.approve(protected, "clf", "production", actor="bo")
    models.request_promotion(protected, "clf@2", "production", "second", actor="ana")
    migrate.downgrade(protected.metadata, "0004")
    with protected.metadata.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT action, to_version, actor FROM model_alias_events ORDER BY id")
        ).all()
    assert [tuple(row) for row in rows] == [("promote", 1, "bo")]
    migrate.upgrade(protected.metadata)
    assert models.get_version(protected, "clf@production").version == 1
