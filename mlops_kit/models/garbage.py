"""Garbage collection: pending versions past their grace period and objects nobody references."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from mlops_kit.db.models import utcnow
from mlops_kit.db.models.registry import ModelFile, ModelVersionRow, RegisteredModel
from mlops_kit.kit import Kit


@dataclass
class GcReport:
    """What :func:`collect_garbage` removed (or would remove, in a dry run)."""

    removed_versions: list[str] = field(default_factory=list)
    """``NAME@VERSION`` of pending rows older than the grace period."""
    removed_objects: list[str] = field(default_factory=list)
    """Keys of objects no ready or in-flight version references."""
    kept_objects: int = 0
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)


def collect_garbage(
    kit: Kit,
    *,
    grace: timedelta = timedelta(hours=24),
    dry_run: bool = False,
    now: datetime | None = None,
) -> GcReport:
    """Remove pending versions older than ``grace`` and artifact objects nobody references.

    Only objects under ``MODEL/VERSION/`` of models known to the registry are considered, so other
    data sharing the store is never touched. An object is kept when a ready version lists it, or when
    its version is still pending within the grace period (an upload in flight). Everything else
    under a version path goes, including the partial files a killed upload staged there
    (``.incoming-*``). Objects are listed before the database is read: any object listed was
    written after its version row existed.

    Raises:
        BackendError: the database or the store failed (nothing referenced is removed).
    """
    now = now or utcnow()
    report = GcReport(dry_run=dry_run)
    objects = list(kit.artifacts.list_objects())
    with kit.metadata.session() as session:
        # Locked: a registration marking one of them ready meanwhile would otherwise lose its row.
        stale = session.execute(
            select(ModelVersionRow.id, RegisteredModel.name, ModelVersionRow.version)
            .join(RegisteredModel)
            .where(ModelVersionRow.status == "pending", ModelVersionRow.created_at < now - grace)
            .order_by(RegisteredModel.name, ModelVersionRow.version)
            .with_for_update(of=ModelVersionRow)
        ).all()
        report.removed_versions = [f"{name}@{version}" for _, name, version in stale]
        if stale and not dry_run:
            session.execute(
                delete(ModelVersionRow).where(ModelVersionRow.id.in_([row.id for row in stale]))
            )
        models = set(session.scalars(select(RegisteredModel.name)))
        referenced = set(
            session.scalars(
                select(ModelFile.key).join(ModelVersionRow).where(ModelVersionRow.status == "ready")
            )
        )
        in_flight = {
            (name, version)
            for name, version in session.execute(
                select(RegisteredModel.name, ModelVersionRow.version)
                .join(RegisteredModel)
                .where(
                    ModelVersionRow.status == "pending", ModelVersionRow.created_at >= now - grace
                )
            )
        }
    for listed in objects:
        name, _, rest = listed.key.partition("/")
        version_text = rest.partition("/")[0]
        owned = name in models and version_text.isdigit()
        if not owned or listed.key in referenced or (name, int(version_text)) in in_flight:
            report.kept_objects += 1
            continue
        report.removed_objects.append(listed.key)
        if not dry_run:
            kit.artifacts.delete(listed.key)
    return report
