"""A version's lineage as rows of the registry's tables, written and read back.

What a version is made from lives in child tables of the version: its metrics (overall and by
slice), parameters, tags, component versions and training data, written with the version
(:func:`lineage_rows`); its files, written once they are stored (:func:`file_rows`). Its aliases
are set later, by promotion. :func:`read_lineage` reads all of them back in one statement. The
mapping is kept here both ways, so that a new kind of lineage is added in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, String, literal, null, select, union_all
from sqlalchemy.orm import Session

from mlops_kit.artifacts import StoredObject
from mlops_kit.db.models.data import Dataset, DatasetVersionRow
from mlops_kit.db.models.registry import (
    ModelAlias,
    ModelComponent,
    ModelDataLineage,
    ModelFile,
    ModelMetric,
    ModelParam,
    ModelTag,
)


@dataclass(frozen=True)
class VersionLineage:
    """A version's lineage and aliases as read back, in the shape of :class:`ModelVersion`."""

    aliases: list[str]
    metrics: dict[str, float]
    """Overall metrics."""
    slices: dict[str, dict[str, dict[str, float]]]
    """Per-slice metrics: column → value → metric → number."""
    files: list[dict[str, Any]]
    params: dict[str, str]
    tags: dict[str, str]
    datasets: list[str]
    """The dataset versions it was trained on, ``DATASET@V``."""
    components: dict[str, dict[str, str]]


def lineage_rows(
    version_id: int,
    metrics: Mapping[str, Any],
    *,
    params: Mapping[str, Any],
    tags: Mapping[str, Any],
    dataset_ids: Sequence[int],
    components: Mapping[str, Mapping[str, str]],
) -> list[Any]:
    """The rows that record what version ``version_id`` is made from (its files aside).

    Args:
        version_id: the version's row id.
        metrics: metrics in the kit's format (``overall`` and ``slices``).
        params: training parameters (stored as text).
        tags: free-form labels (stored as text).
        dataset_ids: the row ids of the dataset versions it was trained on.
        components: component versions by kind: name → version.
    """
    rows: list[Any] = [
        ModelMetric(version_id=version_id, name=metric, value=value)
        for metric, value in metrics["overall"].items()
    ]
    rows += [
        ModelMetric(
            version_id=version_id,
            slice_column=column,
            slice_value=value,
            name=metric,
            value=number,
        )
        for column, values in metrics["slices"].items()
        for value, numbers in values.items()
        for metric, number in numbers.items()
    ]
    rows += [ModelParam(version_id=version_id, key=k, value=str(v)) for k, v in params.items()]
    rows += [ModelTag(version_id=version_id, key=k, value=str(v)) for k, v in tags.items()]
    rows += [ModelDataLineage(version_id=version_id, dataset_version_id=i) for i in dataset_ids]
    rows += [
        ModelComponent(version_id=version_id, kind=kind, name=component, version=version)
        for kind, versions in components.items()
        for component, version in versions.items()
    ]
    return rows


def file_rows(version_id: int, stored: Iterable[tuple[str, StoredObject]]) -> list[ModelFile]:
    """The rows of version ``version_id``'s files: each path in the artifact and its object."""
    return [
        ModelFile(
            version_id=version_id,
            path=path,
            key=obj.key,
            size=obj.size,
            sha256=obj.sha256,
            md5=obj.md5,
        )
        for path, obj in stored
    ]


def read_lineage(session: Session, version_id: int) -> VersionLineage:
    """Everything version ``version_id`` was made from, and its aliases, read in one statement.

    One ``UNION ALL`` of the child tables: one round trip to the database instead of one per kind
    (and no lazy load of an ORM relationship).
    """
    metric, file = ModelMetric, ModelFile
    statement = union_all(
        _part("metric", [metric.slice_column, metric.slice_value, metric.name], metric.value).where(
            metric.version_id == version_id
        ),
        _part("file", [file.path, file.key, file.sha256, file.md5], count=file.size).where(
            file.version_id == version_id
        ),
        _part("param", [ModelParam.key, ModelParam.value]).where(
            ModelParam.version_id == version_id
        ),
        _part("tag", [ModelTag.key, ModelTag.value]).where(ModelTag.version_id == version_id),
        _part(
            "component", [ModelComponent.kind, ModelComponent.name, ModelComponent.version]
        ).where(ModelComponent.version_id == version_id),
        _part("dataset", [Dataset.name], count=DatasetVersionRow.version)
        .join(DatasetVersionRow, DatasetVersionRow.dataset_id == Dataset.id)
        .join(ModelDataLineage, ModelDataLineage.dataset_version_id == DatasetVersionRow.id)
        .where(ModelDataLineage.version_id == version_id),
        _part("alias", [ModelAlias.alias]).where(ModelAlias.version_id == version_id),
    )
    found: dict[str, list[tuple[Any, ...]]] = {kind: [] for kind in _KINDS}
    for row in session.execute(statement):
        found[row[0]].append(tuple(row))
    return _decoded(found)


_KINDS = ("metric", "file", "param", "tag", "component", "dataset", "alias")
"""The kinds of rows :func:`read_lineage` reads, each ``(kind, a, b, c, d, number, count)``."""


def _part(kind: str, texts: Sequence[Any], number: Any = None, count: Any = None) -> Select[Any]:
    """One kind of lineage row: up to four text columns, a number and a count (NULL if absent)."""
    padded = [*texts, *[null()] * (4 - len(texts))]
    return select(
        literal(kind, String),
        *padded,
        null() if number is None else number,
        null() if count is None else count,
    )


def _decoded(found: dict[str, list[tuple[Any, ...]]]) -> VersionLineage:
    """The lineage in the rows of :func:`read_lineage`, by kind, each kind sorted."""
    overall: dict[str, float] = {}
    slices: dict[str, dict[str, dict[str, float]]] = {}
    for _, column, value, metric, _, number, _ in found["metric"]:
        if column:
            slices.setdefault(column, {}).setdefault(value, {})[metric] = number
        else:
            overall[metric] = number
    components: dict[str, dict[str, str]] = {}
    for _, kind, component, version, *_ in sorted(found["component"], key=lambda c: c[1:3]):
        components.setdefault(kind, {})[component] = version
    return VersionLineage(
        aliases=sorted(alias for _, alias, *_ in found["alias"]),
        metrics=dict(sorted(overall.items())),
        slices=slices,
        files=[
            {"path": path, "key": key, "size": size, "sha256": sha256, "md5": md5}
            for _, path, key, sha256, md5, _, size in sorted(found["file"], key=lambda f: f[1])
        ],
        params=dict(sorted((key, value) for _, key, value, *_ in found["param"])),
        tags=dict(sorted((key, value) for _, key, value, *_ in found["tag"])),
        datasets=[
            f"{dataset}@{version}"
            for _, dataset, *_, version in sorted(found["dataset"], key=lambda d: (d[1], d[-1]))
        ],
        components=components,
    )
