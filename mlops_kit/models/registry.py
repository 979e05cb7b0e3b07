"""Registering, reading, downloading and garbage-collecting model versions.

A registration is three steps, so that no reader ever sees a half-stored version:

1. one transaction locks the model row, allocates the next version number and writes the version
   ``pending`` with its metrics, params, tags, data lineage and component versions;
2. the artifact is uploaded under ``NAME/VERSION/`` in the environment's artifact store (create-only,
   checksummed);
3. one transaction records the files and marks the version ``ready``.

A failure in 2 or 3 marks the version ``failed`` and removes what was uploaded; a process that dies
leaves a ``pending`` row that :func:`collect_garbage` removes after a grace period, with the objects nobody
references.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import platform
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from mlops_kit import __version__
from mlops_kit import data as datasets
from mlops_kit.artifacts import StoredObject, source_files
from mlops_kit.db.models import utcnow
from mlops_kit.db.models.data import Dataset, DatasetVersionRow
from mlops_kit.db.models.registry import (
    ModelAlias,
    ModelComponent,
    ModelDataLineage,
    ModelFile,
    ModelMetric,
    ModelParam,
    ModelTag,
    ModelVersionRow,
    RegisteredModel,
)
from mlops_kit.errors import (
    ConfigError,
    ConflictError,
    MlopsKitError,
    NotFoundError,
    first_line,
)
from mlops_kit.kit import Kit
from mlops_kit.models.flavors import LoadedModel, detect_flavor, flavor_named
from mlops_kit.provenance import current_user

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,99}$")
_METRIC = re.compile(r"^[a-z][a-z0-9_]*$")
LATEST = "latest"


def check_model_name(name: str) -> str:
    """Return ``name`` if it can name a model (it becomes part of artifact keys).

    Raises:
        ConfigError: the name is empty, too long, or has characters other than letters, digits,
            ``_``, ``.`` and ``-``.
    """
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid model name {name!r}: use letters, digits, '_', '.', '-' (max 100 characters)"
        )
    return name


def check_alias(alias: str) -> str:
    """Return ``alias`` if it is a lower-case word that is neither all digits nor ``latest``.

    Raises:
        ConfigError: otherwise.
    """
    if not _ALIAS.match(alias) or alias == LATEST:
        raise ConfigError(
            f"invalid alias {alias!r}: use a lower-case word such as 'champion' or 'production' "
            "(not all digits, not 'latest')"
        )
    return alias


@dataclass(frozen=True)
class ModelRef:
    """A reference to a model version: ``NAME@VERSION``, ``NAME@ALIAS``, ``NAME@latest`` or ``NAME``."""

    name: str
    version: int | None = None
    alias: str | None = None
    """An alias name, or ``latest`` (the newest ready version; also what a bare name means)."""

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse ``NAME@VERSION``, ``NAME@ALIAS`` or a bare ``NAME`` (the latest ready version).

        Raises:
            ConfigError: the name or the part after ``@`` is invalid.
        """
        name, separator, selector = text.strip().partition("@")
        check_model_name(name)
        if not separator:
            return cls(name, alias=LATEST)
        if selector.isdigit() and int(selector) > 0:
            return cls(name, version=int(selector))
        if selector == LATEST:
            return cls(name, alias=LATEST)
        if not _ALIAS.match(selector):
            raise ConfigError(
                f"invalid model reference {text!r}: use NAME@VERSION (a number from 1), "
                "NAME@ALIAS or NAME@latest"
            )
        return cls(name, alias=selector)

    def __str__(self) -> str:
        return f"{self.name}@{self.version if self.version is not None else self.alias}"


@dataclass(frozen=True)
class ModelVersionSummary:
    """What a listing shows of a version."""

    name: str
    version: int
    status: str
    artifact_uri: str
    created_by: str
    created_at: datetime
    aliases: list[str]
    metrics: dict[str, float]
    """The overall metrics."""
    failure: str | None = None
    """Why a failed version failed."""

    @property
    def ref(self) -> str:
        """``NAME@VERSION``."""
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field."""
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        if isinstance(data.get("ready_at"), datetime):
            data["ready_at"] = data["ready_at"].isoformat()
        return data


@dataclass(frozen=True)
class ModelVersion(ModelVersionSummary):
    """A version with its whole lineage."""

    flavor: str | None = None
    ready_at: datetime | None = None
    pipeline_run_id: str | None = None
    git_commit: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    """``{"path", "key", "size", "sha256", "md5"}`` per file of the artifact."""
    slices: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    """Per-slice metrics: column → value → metric → number."""
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    """The dataset versions it was trained on, as ``DATASET@VERSION``."""
    components: dict[str, dict[str, str]] = field(default_factory=dict)
    """Component versions by kind (``kit``, ``python``, ``package``, ``image``): name → version."""

    def stored_objects(self) -> list[StoredObject]:
        """The artifact's files as the store records them."""
        return [StoredObject(f["key"], f["size"], f["sha256"], f["md5"]) for f in self.files]


# -- metrics ---------------------------------------------------------------------------------------


def parse_metrics(data: Any, source: str = "metrics") -> dict[str, Any]:  # noqa: C901
    """Validate metrics in the kit's format (see the README) and return them normalized.

    ``{"overall": {"accuracy": 0.9, ...}, "slices": {"column": {"value": {"accuracy": 0.4, ...}}}}``;
    ``slices`` is optional, metric names are lower-case words, values are numbers.

    Raises:
        ConfigError: the structure, a name or a value is wrong; the message names where.
    """

    def numbers(values: Any, where: str) -> dict[str, float]:
        if not isinstance(values, Mapping) or not values:
            raise ConfigError(f"{source}: {where} must be a non-empty object of metric -> number")
        result = {}
        for name, value in values.items():
            if not isinstance(name, str) or not _METRIC.match(name):
                raise ConfigError(
                    f"{source}: metric name {name!r} in {where} must be a lower-case word "
                    "such as 'accuracy'"
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{source}: {where}.{name} = {value!r} is not a number")
            result[name] = float(value)
        return result

    if not isinstance(data, Mapping) or "overall" not in data:
        raise ConfigError(f'{source}: expected an object with "overall" (and optional "slices")')
    unknown = set(data) - {"overall", "slices"}
    if unknown:
        raise ConfigError(f"{source}: unknown keys {sorted(unknown)}: only overall and slices")
    slices: dict[str, dict[str, dict[str, float]]] = {}
    raw_slices = data.get("slices") or {}
    if not isinstance(raw_slices, Mapping):
        raise ConfigError(f"{source}: slices must be an object of column -> value -> metrics")
    for column, values in raw_slices.items():
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: slices.{column} must be an object of value -> metrics")
        slices[str(column)] = {
            str(value): numbers(metrics, f"slices.{column}.{value}")
            for value, metrics in values.items()
        }
    return {"overall": numbers(data["overall"], "overall"), "slices": slices}


def read_metrics_file(path: Path) -> dict[str, Any]:
    """Read and validate a metrics JSON file.

    Raises:
        NotFoundError: the file does not exist.
        ConfigError: it is not JSON or not in the metrics format.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotFoundError(f"metrics file {str(path)!r} does not exist") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read metrics file {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"metrics file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}): "
            f"{exc.msg}"
        ) from exc
    return parse_metrics(data, f"metrics file {path}")


# -- training environment --------------------------------------------------------------------------


@functools.cache
def installed_packages() -> dict[str, str]:
    """Name → version of every distribution installed in this Python environment.

    Read once per process: parsing every distribution's metadata takes about half a second.
    """
    packages: dict[str, str] = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if name:
            packages[re.sub(r"[-_.]+", "-", name).lower()] = distribution.version
    return dict(sorted(packages.items()))


def component_versions(
    packages: Mapping[str, str] | None, image_digest: str | None
) -> dict[str, dict[str, str]]:
    """The component versions recorded with a version (see :class:`ModelVersion.components`)."""
    components = {
        "kit": {"mlops-kit": __version__},
        "python": {"python": platform.python_version()},
        "package": dict(installed_packages() if packages is None else packages),
    }
    if image_digest:
        components["image"] = {"image": image_digest}
    return components


# -- register --------------------------------------------------------------------------------------


def register(  # noqa: PLR0913
    kit: Kit,
    name: str,
    path: Path | str,
    *,
    metrics: Mapping[str, Any] | Path | None = None,
    data: Sequence[datasets.DatasetRef | str] = (),
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    pipeline_run_id: str | None = None,
    image_digest: str | None = None,
    git_commit: str | None = None,
    created_by: str | None = None,
    packages: Mapping[str, str] | None = None,
) -> ModelVersion:
    """Register the file or directory ``path`` as the next version of model ``name``.

    Args:
        kit: the environment.
        name: the model name (created on first registration).
        path: the artifact: a file (``model.joblib``) or a directory.
        metrics: metrics in the kit's format, or the path of a JSON file holding them.
        data: the dataset versions it was trained on (``DATASET@V``).
        params: training parameters (values are stored as text).
        tags: free-form labels.
        pipeline_run_id: the pipeline run that trained it.
        image_digest: the training container image digest.
        git_commit: the commit of the training code.
        created_by: who registers (default: the operating-system user).
        packages: name → version of the training environment's packages (default: this one's).

    Returns:
        The ready version.

    Raises:
        NotFoundError: ``path``, the metrics file or a data version does not exist.
        ConfigError: malformed name, metrics or parameters. Nothing is recorded in these cases.
        ConflictError: an object already exists under the version's path.
        BackendError: the metadata database or the artifact store failed; the version is marked
            failed (or left pending for :func:`collect_garbage` if even that failed) and is never
            visible. Also raised, with the version ready, when mirroring to Vertex AI fails (environments with
            ``vertex_model_registry: true``).
    """
    check_model_name(name)
    source = Path(path)
    files = source_files(source)  # validates the path before anything is written
    if isinstance(metrics, Path):
        metric_values = read_metrics_file(metrics)
    elif metrics is None:
        metric_values = {"overall": {}, "slices": {}}
    else:
        metric_values = parse_metrics(metrics)
    components = component_versions(packages, image_digest)
    flavor = detect_flavor([name for _, name in files])
    actor = created_by or current_user()
    # Dataset versions are immutable and cannot be deleted while a model references them, so
    # resolving them before the registration transaction is safe.
    dataset_ids = [datasets.get_version(kit, ref).id for ref in data]

    with kit.metadata.session() as session:
        model = _lock_or_create_model(session, name)
        model.last_version += 1
        version = model.last_version
        prefix = f"{name}/{version}"
        row = ModelVersionRow(
            model_id=model.id,
            version=version,
            status="pending",
            artifact_uri=kit.artifacts.object_uri(prefix),
            flavor=flavor,
            pipeline_run_id=pipeline_run_id,
            git_commit=git_commit,
            created_by=actor,
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        _add_lineage(
            session, row.id, metric_values, params or {}, tags or {}, dataset_ids, components
        )
        version_id = row.id

    stored: list[StoredObject] = []
    try:
        stored = kit.artifacts.put(source, prefix)
        with kit.metadata.session() as session:
            finished = session.execute(
                update(ModelVersionRow)
                .where(ModelVersionRow.id == version_id, ModelVersionRow.status == "pending")
                .values(status="ready", ready_at=utcnow())
            )
            if finished.rowcount != 1:  # type: ignore[attr-defined]
                raise ConflictError(
                    f"version {name}@{version} was removed by `models gc` while uploading: "
                    "register again (raise gc's grace period above the longest upload)"
                )
            session.add_all(
                ModelFile(
                    version_id=version_id,
                    path=relative,
                    key=obj.key,
                    size=obj.size,
                    sha256=obj.sha256,
                    md5=obj.md5,
                )
                for (_, relative), obj in zip(files, stored, strict=True)
            )
    except BaseException as exc:
        _fail(kit, version_id, [obj.key for obj in stored], exc)
        raise
    if kit.environment.vertex_model_registry:
        from mlops_kit.models.vertex import mirror_to_vertex

        # The version is ready whatever Vertex answers; a failed mirror is retried on its own.
        mirror_to_vertex(kit, ModelRef(name, version=version))
    return get_version(kit, ModelRef(name, version=version))


def _lock_or_create_model(session: Session, name: str) -> RegisteredModel:
    """The model row of ``name``, locked for this transaction; created if new.

    The insert ignores a conflict so that concurrent first registrations of one model both succeed.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    session.execute(
        insert(RegisteredModel)
        .values(name=name, last_version=0, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return session.scalars(
        select(RegisteredModel)
        .where(RegisteredModel.name == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _add_lineage(
    session: Session,
    version_id: int,
    metrics: Mapping[str, Any],
    params: Mapping[str, Any],
    tags: Mapping[str, Any],
    dataset_ids: Sequence[int],
    components: Mapping[str, Mapping[str, str]],
) -> None:
    rows: list[Any] = [
        ModelMetric(version_id=version_id, name=metric, value=value)
        for metric, value in metrics["overall"].items()
    ]
    for column, values in metrics["slices"].items():
        for value, numbers in values.items():
            rows += [
                ModelMetric(
                    version_id=version_id,
                    slice_column=column,
                    slice_value=value,
                    name=metric,
                    value=number,
                )
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
    session.add_all(rows)


def _fail(kit: Kit, version_id: int, keys: list[str], exc: BaseException) -> None:
    """Mark the version failed and delete the objects it stored; what fails is left to gc."""
    reason = first_line(exc)
    try:
        with kit.metadata.session() as session:
            session.execute(
                update(ModelVersionRow)
                .where(ModelVersionRow.id == version_id, ModelVersionRow.status == "pending")
                .values(status="failed", failure=reason[:2000])
            )
    except MlopsKitError:
        pass  # the row stays pending; gc removes it after the grace period
    kit.artifacts.delete_quietly(keys)


# -- read ------------------------------------------------------------------------------------------


def model_row(session: Session, name: str, *, for_update: bool = False) -> RegisteredModel:
    """The registered model ``name``, locked for the transaction when ``for_update``.

    Raises:
        NotFoundError: no model has that name; the message lists the known ones.
    """
    query = select(RegisteredModel).where(RegisteredModel.name == name)
    model = session.scalars(query.with_for_update() if for_update else query).first()
    if model is None:
        known = session.scalars(select(RegisteredModel.name).order_by(RegisteredModel.name)).all()
        hint = (
            f"known models: {', '.join(known[:20])}"
            if known
            else "no model is registered yet: register one with `mlops-kit models register`"
        )
        raise NotFoundError(f"unknown model {name!r} ({hint})")
    return model


def version_row(session: Session, ref: ModelRef, *, ready_only: bool = True) -> ModelVersionRow:
    """The row of the version ``ref`` names (only a ready one unless ``ready_only`` is false).

    Raises:
        NotFoundError: the model, version or alias does not exist; the message lists what does.
    """
    model = model_row(session, ref.name)
    query = select(ModelVersionRow).where(ModelVersionRow.model_id == model.id)
    if ref.version is not None:
        query = query.where(ModelVersionRow.version == ref.version)
    elif ref.alias == LATEST:
        query = query.where(ModelVersionRow.status == "ready").order_by(
            ModelVersionRow.version.desc()
        )
    else:
        query = query.join(ModelAlias, ModelAlias.version_id == ModelVersionRow.id).where(
            ModelAlias.alias == ref.alias
        )
    row = session.scalars(query.limit(1)).first()
    if row is None:
        if ref.version is not None:
            raise NotFoundError(
                f"model {ref.name!r} has no version {ref.version} "
                f"(its latest is {model.last_version or 'none'})"
            )
        if ref.alias == LATEST:
            raise NotFoundError(f"model {ref.name!r} has no ready version yet")
        aliases = session.scalars(
            select(ModelAlias.alias)
            .where(ModelAlias.model_id == model.id)
            .order_by(ModelAlias.alias)
        ).all()
        hint = f"its aliases are {', '.join(aliases)}" if aliases else "it has no alias yet"
        raise NotFoundError(
            f"model {ref.name!r} has no alias {ref.alias!r} ({hint}); "
            f"set one with `mlops-kit models promote {ref.name}@VERSION --alias {ref.alias}`"
        )
    if ready_only and row.status != "ready":
        raise NotFoundError(
            f"version {ref.name}@{row.version} is {row.status.upper()}, not READY: "
            "only ready versions can be read"
        )
    return row


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC time (SQLite returns the stored UTC times without a zone)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def as_ref(ref: ModelRef | str) -> ModelRef:
    """``ref`` parsed if it is text."""
    return ref if isinstance(ref, ModelRef) else ModelRef.parse(ref)


def _aliases_by_version(session: Session, version_ids: Sequence[int]) -> dict[int, list[str]]:
    result: dict[int, list[str]] = {}
    rows = session.execute(
        select(ModelAlias.version_id, ModelAlias.alias)
        .where(ModelAlias.version_id.in_(version_ids))
        .order_by(ModelAlias.alias)
    )
    for version_id, alias in rows:
        result.setdefault(version_id, []).append(alias)
    return result


def full_version(session: Session, row: ModelVersionRow, name: str) -> ModelVersion:
    """The :class:`ModelVersion` of ``row`` with its lineage, read in ``session``."""
    overall: dict[str, float] = {}
    slices: dict[str, dict[str, dict[str, float]]] = {}
    for metric in row.metrics:
        if metric.slice_column:
            per_value = slices.setdefault(metric.slice_column, {})
            per_value.setdefault(metric.slice_value, {})[metric.name] = metric.value
        else:
            overall[metric.name] = metric.value
    components: dict[str, dict[str, str]] = {}
    for component in sorted(row.components, key=lambda c: (c.kind, c.name)):
        components.setdefault(component.kind, {})[component.name] = component.version
    datasets = [
        f"{dataset_name}@{version}"
        for dataset_name, version in session.execute(
            select(Dataset.name, DatasetVersionRow.version)
            .join(DatasetVersionRow, DatasetVersionRow.dataset_id == Dataset.id)
            .join(ModelDataLineage, ModelDataLineage.dataset_version_id == DatasetVersionRow.id)
            .where(ModelDataLineage.version_id == row.id)
            .order_by(Dataset.name)
        )
    ]
    return ModelVersion(
        name=name,
        version=row.version,
        status=row.status,
        artifact_uri=row.artifact_uri,
        created_by=row.created_by,
        created_at=as_utc(row.created_at),
        aliases=_aliases_by_version(session, [row.id]).get(row.id, []),
        metrics=dict(sorted(overall.items())),
        flavor=row.flavor,
        ready_at=row.ready_at and as_utc(row.ready_at),
        pipeline_run_id=row.pipeline_run_id,
        git_commit=row.git_commit,
        files=[
            {"path": f.path, "key": f.key, "size": f.size, "sha256": f.sha256, "md5": f.md5}
            for f in row.files
        ],
        slices=slices,
        params=dict(sorted((p.key, p.value) for p in row.params)),
        tags=dict(sorted((t.key, t.value) for t in row.tags)),
        datasets=datasets,
        components=components,
        failure=row.failure,
    )


def get_version(kit: Kit, ref: ModelRef | str) -> ModelVersion:
    """The ready version ``ref`` names, with its whole lineage.

    Raises:
        NotFoundError: the model, version or alias does not exist, or the version is not ready.
        ConfigError: ``ref`` is malformed.
    """
    ref = as_ref(ref)
    with kit.metadata.session() as session:
        row = version_row(session, ref)
        return full_version(session, row, ref.name)


def list_versions(
    kit: Kit, name: str, *, limit: int | None = None, include_unready: bool = False
) -> list[ModelVersionSummary]:
    """The versions of model ``name``, newest first.

    Args:
        kit: the environment.
        name: the model.
        limit: at most this many versions.
        include_unready: also list pending and failed versions (for operators).

    Raises:
        NotFoundError: the model does not exist.
    """
    check_model_name(name)
    with kit.metadata.session() as session:
        model = model_row(session, name)
        # Plain rows, not ORM objects: a model may have tens of thousands of versions.
        listed = (
            select(ModelVersionRow.id)
            .where(ModelVersionRow.model_id == model.id)
            .order_by(ModelVersionRow.version.desc())
            .limit(limit)
        )
        if not include_unready:
            listed = listed.where(ModelVersionRow.status == "ready")
        chosen = listed.subquery()
        rows = session.execute(
            select(
                ModelVersionRow.id,
                ModelVersionRow.version,
                ModelVersionRow.status,
                ModelVersionRow.artifact_uri,
                ModelVersionRow.created_by,
                ModelVersionRow.created_at,
                ModelVersionRow.failure,
            )
            .join(chosen, chosen.c.id == ModelVersionRow.id)
            .order_by(ModelVersionRow.version.desc())
        ).all()
        metrics: dict[int, dict[str, float]] = {}
        for version_id, metric, value in session.execute(
            select(ModelMetric.version_id, ModelMetric.name, ModelMetric.value)
            .join(chosen, chosen.c.id == ModelMetric.version_id)
            .where(ModelMetric.slice_column == "")
            .order_by(ModelMetric.name)
        ):
            metrics.setdefault(version_id, {})[metric] = value
        aliases: dict[int, list[str]] = {}
        for version_id, alias in session.execute(
            select(ModelAlias.version_id, ModelAlias.alias)
            .where(ModelAlias.model_id == model.id)
            .order_by(ModelAlias.alias)
        ):
            aliases.setdefault(version_id, []).append(alias)
        return [
            ModelVersionSummary(
                name=name,
                version=row.version,
                status=row.status,
                artifact_uri=row.artifact_uri,
                created_by=row.created_by,
                created_at=as_utc(row.created_at),
                aliases=aliases.get(row.id, []),
                metrics=metrics.get(row.id, {}),
                failure=row.failure,
            )
            for row in rows
        ]


def download(kit: Kit, ref: ModelRef | str, destination: Path | str) -> Path:
    """Download the artifact of ``ref`` into the directory ``destination``, verifying checksums.

    Returns:
        The directory, holding the artifact's files at their recorded paths.

    Raises:
        ConflictError: ``destination`` exists and is not an empty directory.
        IntegrityError: a file is missing or its checksum differs (nothing corrupt is left behind).
    """
    version = get_version(kit, ref)
    target = Path(destination)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConflictError(
            f"download destination {target} exists and is not empty: choose a new directory"
        )
    for record, stored in zip(version.files, version.stored_objects(), strict=True):
        kit.artifacts.get(stored, target / record["path"])
    return target


# -- garbage collection ----------------------------------------------------------------------------


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
    its version is still pending within the grace period (an upload in flight). Objects are listed
    before the database is read: any object listed was written after its version row existed.

    Raises:
        BackendError: the database or the store failed (nothing referenced is removed).
    """
    now = now or utcnow()
    report = GcReport(dry_run=dry_run)
    objects = list(kit.artifacts.list_objects())
    with kit.metadata.session() as session:
        stale = session.execute(
            select(ModelVersionRow.id, RegisteredModel.name, ModelVersionRow.version)
            .join(RegisteredModel)
            .where(ModelVersionRow.status == "pending", ModelVersionRow.created_at < now - grace)
            .order_by(RegisteredModel.name, ModelVersionRow.version)
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


def load_model(kit: Kit, ref: ModelRef | str) -> LoadedModel:
    """Download ``ref`` (verified) and load it with its flavour.

    Raises:
        ConfigError: the version has no flavour the kit can load.
        IntegrityError: the artifact is missing or corrupt.
    """
    version = get_version(kit, ref)
    flavor = flavor_named(version.flavor)
    with tempfile.TemporaryDirectory(prefix="mlops-kit-model-") as directory:
        return flavor.load(download(kit, version.ref, Path(directory) / "model"))
