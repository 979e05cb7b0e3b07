"""Data versioning: immutable dataset versions, their profiles, and diffs that find what broke.

A version is a numbered, immutable copy of a dataset in the warehouse (a Parquet file on the local
twin, an integer-range partition in BigQuery) plus a manifest in the metadata database: schema, row
count, content fingerprint, source, storage location, who/when, git commit, description and tags.

- :func:`snapshot` creates a version (or returns the existing one when the content is identical);
- :func:`get_version`, :func:`list_versions` read manifests; :func:`load` reads the data back;
- :func:`profile` returns the per-column statistics that :func:`snapshot` computed and stored with
  the manifest;
- :func:`diff` compares two versions (or a version and a file) and returns a :class:`DatasetDiff`.

References are ``NAME@V``, ``NAME@latest`` or a bare ``NAME`` (latest); see :class:`DatasetRef`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from mlops_kit import provenance, stats
from mlops_kit.db.models.data import Dataset, DatasetVersionRow
from mlops_kit.errors import ConfigError, NotFoundError
from mlops_kit.warehouse import Source, StagedData

if TYPE_CHECKING:
    import ibis
    from sqlalchemy.orm import Session

    from mlops_kit.kit import Kit
    from mlops_kit.reports import Page
    from mlops_kit.warehouse import Warehouse

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def check_dataset_name(name: str) -> str:
    """Return ``name`` if it is a valid dataset name (lower-case letters, digits, ``_``; ≤ 63).

    Raises:
        ConfigError: the name is invalid.
    """
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid dataset name {name!r}: use lower-case letters, digits and '_', "
            "starting with a letter (at most 63 characters)"
        )
    return name


@dataclass(frozen=True)
class DatasetRef:
    """A reference to a dataset version: ``NAME@V``, ``NAME@latest`` or ``NAME`` (= latest).

    Attributes:
        name: the dataset name.
        version: the version number, or ``None`` for the latest version.
    """

    name: str
    version: int | None = None

    @classmethod
    def parse(cls, text: str) -> DatasetRef:
        """Parse ``NAME[@V|@latest]``.

        Raises:
            ConfigError: the text is not a valid reference.
        """
        name, at, version = text.strip().partition("@")
        check_dataset_name(name)
        if not at or version == "latest":
            return cls(name)
        if not version.isdigit() or int(version) < 1:
            raise ConfigError(
                f"invalid dataset reference {text!r}: use NAME@VERSION (a number ≥ 1) or NAME@latest"
            )
        return cls(name, int(version))

    def __str__(self) -> str:
        return f"{self.name}@{'latest' if self.version is None else self.version}"


@dataclass(frozen=True)
class DatasetVersion:
    """The manifest of one immutable dataset version.

    Attributes:
        id: the manifest's primary key (what lineage records reference).
        name: the dataset name.
        version: the version number (1, 2, ... per dataset, without gaps).
        fingerprint: digest of the schema and the multiset of rows.
        row_count: number of rows.
        schema: ``[{"name", "type"}]`` with ibis type names.
        source: where the data came from (``file:…``, ``query:…``, ``table:…``).
        storage: where the version is stored in the warehouse.
        created_by: who created it.
        created_at: when (UTC).
        git_commit: the commit of the working directory's repository, if any.
        description: free text.
        tags: free key/value labels.
        created: False when :func:`snapshot` found identical content and returned this version.
    """

    id: int
    name: str
    version: int
    fingerprint: str
    row_count: int
    schema: list[dict[str, str]]
    source: str
    storage: str
    created_by: str
    created_at: datetime
    git_commit: str | None
    description: str
    tags: dict[str, str]
    created: bool = True

    @property
    def ref(self) -> str:
        """``NAME@V``."""
        return f"{self.name}@{self.version}"

    @classmethod
    def _of(cls, row: DatasetVersionRow, name: str, *, created: bool = True) -> DatasetVersion:
        return cls(
            id=row.id,
            name=name,
            version=row.version,
            fingerprint=row.fingerprint,
            row_count=row.row_count,
            schema=list(row.schema),
            source=row.source,
            storage=row.storage,
            created_by=row.created_by,
            created_at=row.created_at,
            git_commit=row.git_commit,
            description=row.description,
            tags=dict(row.tags),
            created=created,
        )

    def to_json(self) -> dict[str, Any]:
        """The manifest as JSON-able data."""
        return {
            "id": self.id,
            "ref": self.ref,
            "name": self.name,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "row_count": self.row_count,
            "schema": self.schema,
            "source": self.source,
            "storage": self.storage,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "git_commit": self.git_commit,
            "description": self.description,
            "tags": self.tags,
        }


def _source(path: Path | str | None, query: str | None, table: str | None) -> Source:
    given = [value for value in (path, query, table) if value]
    if len(given) != 1:
        raise ConfigError(
            "give exactly one source of data: a file (--from PATH), a query (--query SQL) "
            "or a table (--table TABLE)"
        )
    if table and not _TABLE.match(table):
        raise ConfigError(
            f"invalid table name {table!r}: use letters, digits, '_' and '.' (dataset.table)"
        )
    return Source(path=Path(path) if path else None, query=query or None, table=table or None)


def _ready(dataset_id: int) -> Any:
    return select(DatasetVersionRow).where(
        DatasetVersionRow.dataset_id == dataset_id, DatasetVersionRow.status == "ready"
    )


def _locked_dataset(session: Session, name: str, description: str) -> Dataset:
    """The dataset row, created if missing, locked until the transaction ends."""
    query = select(Dataset).where(Dataset.name == name).with_for_update()
    dataset = session.scalars(query).one_or_none()
    if dataset is not None:
        return dataset
    try:
        with session.begin_nested():
            session.add(Dataset(name=name, description=description))
    except SqlIntegrityError:
        # Another snapshot created the dataset first: wait for its lock like everyone else.
        pass
    return session.scalars(query).one()


def snapshot(  # noqa: PLR0913
    kit: Kit,
    name: str,
    *,
    path: Path | str | None = None,
    query: str | None = None,
    table: str | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    force: bool = False,
    created_by: str = "",
    git_commit: str | None = None,
    workdir: Path | None = None,
) -> DatasetVersion:
    """Create an immutable version of dataset ``name`` from a file, a query or a table.

    The data is staged in the warehouse first and profiled (:func:`mlops_kit.stats.profile`, stored
    with the manifest); then one metadata transaction locks the dataset, allocates the next version
    number, publishes the staged data and records the manifest. Any failure leaves no visible
    version and no manifest.

    Args:
        kit: the environment.
        name: the dataset name (created on first snapshot).
        path: a Parquet, CSV or JSON-lines file.
        query: a SQL query in the warehouse's dialect.
        table: a table in the warehouse.
        description: free text stored with the version.
        tags: key/value labels stored with the version.
        force: create a new version even when the latest identical content already has one.
        created_by: who creates the version (the CLI passes the login name).
        git_commit: the commit to record; by default that of ``workdir``'s repository, if any.
        workdir: the directory whose git commit is recorded (default: the current directory).

    Returns:
        The new version, or the existing version with identical content (``created`` False).

    Raises:
        ConfigError: invalid name or source, empty or unreadable data, unsupported column types.
        NotFoundError: the file or table does not exist.
        BackendError: the query, the warehouse or the metadata database failed.
    """
    check_dataset_name(name)
    source = _source(path, query, table)
    warehouse = kit.warehouse
    staged = warehouse.stage(name, source)
    try:
        if not force:
            existing = _same_content(kit, name, staged)
            if existing is not None:
                warehouse.discard(staged)
                return existing
        commit = git_commit or provenance.git_commit(workdir or Path.cwd())
        # Profiled while the staged data is fresh and before the lock: concurrent snapshots of the
        # dataset wait only for the manifest, and no later diff has to read the version to profile it.
        staged_profile = stats.profile(warehouse, warehouse.table(staged.location))
        with kit.metadata.session() as session:
            dataset = _locked_dataset(session, name, description)
            if not force:
                # A concurrent snapshot of the same content may have won the race for the lock.
                same = session.scalars(
                    _ready(dataset.id).where(DatasetVersionRow.fingerprint == staged.fingerprint)
                ).first()
                if same is not None:
                    warehouse.discard(staged)
                    return DatasetVersion._of(same, name, created=False)
            number = 1 + (
                session.scalar(
                    select(func.max(DatasetVersionRow.version)).where(
                        DatasetVersionRow.dataset_id == dataset.id
                    )
                )
                or 0
            )
            row = DatasetVersionRow(
                dataset_id=dataset.id,
                version=number,
                status="pending",
                fingerprint=staged.fingerprint,
                row_count=staged.row_count,
                schema=staged.schema,
                source=staged.source,
                storage="",
                created_by=created_by,
                git_commit=commit,
                description=description,
                tags=dict(tags or {}),
                profile=staged_profile,
            )
            session.add(row)
            session.flush()
            row.storage = warehouse.publish(staged, name, number)
            row.status = "ready"
        return DatasetVersion._of(row, name)
    except BaseException:
        warehouse.discard(staged)
        raise


def _same_content(kit: Kit, name: str, staged: StagedData) -> DatasetVersion | None:
    with kit.metadata.session() as session:
        dataset = session.scalars(select(Dataset).where(Dataset.name == name)).one_or_none()
        if dataset is None:
            return None
        row = session.scalars(
            _ready(dataset.id)
            .where(DatasetVersionRow.fingerprint == staged.fingerprint)
            .order_by(DatasetVersionRow.version.desc())
        ).first()
        return None if row is None else DatasetVersion._of(row, name, created=False)


def _dataset(session: Session, name: str) -> Dataset:
    dataset = session.scalars(select(Dataset).where(Dataset.name == name)).one_or_none()
    if dataset is None:
        known = session.scalars(select(Dataset.name).order_by(Dataset.name).limit(20)).all()
        raise NotFoundError(
            f"unknown dataset {name!r}: known datasets are {', '.join(known) or 'none yet'} "
            "(create one with `mlops-kit data snapshot NAME --from PATH`)"
        )
    return dataset


def _row(session: Session, ref: DatasetRef) -> DatasetVersionRow:
    dataset = _dataset(session, ref.name)
    query = _ready(dataset.id)
    if ref.version is None:
        row = session.scalars(query.order_by(DatasetVersionRow.version.desc())).first()
        if row is None:
            raise NotFoundError(f"dataset {ref.name!r} has no versions yet: snapshot it first")
        return row  # type: ignore[no-any-return]
    row = session.scalars(query.where(DatasetVersionRow.version == ref.version)).one_or_none()
    if row is None:
        latest = session.scalar(
            select(func.max(DatasetVersionRow.version)).where(
                DatasetVersionRow.dataset_id == dataset.id, DatasetVersionRow.status == "ready"
            )
        )
        raise NotFoundError(
            f"dataset {ref.name!r} has no version {ref.version}: "
            f"versions are 1 to {latest} (see `mlops-kit data versions {ref.name}`)"
        )
    return row  # type: ignore[no-any-return]


def _as_ref(ref: DatasetRef | str) -> DatasetRef:
    return ref if isinstance(ref, DatasetRef) else DatasetRef.parse(ref)


def get_version(kit: Kit, ref: DatasetRef | str) -> DatasetVersion:
    """The manifest of ``ref`` (``NAME@V``, ``NAME@latest`` or ``NAME``).

    Raises:
        ConfigError: the reference is malformed.
        NotFoundError: unknown dataset or version.
    """
    ref = _as_ref(ref)
    with kit.metadata.session() as session:
        return DatasetVersion._of(_row(session, ref), ref.name)


def list_versions(kit: Kit, name: str) -> list[DatasetVersion]:
    """Every version of dataset ``name``, oldest first.

    Raises:
        NotFoundError: unknown dataset.
    """
    check_dataset_name(name)
    with kit.metadata.session() as session:
        dataset = _dataset(session, name)
        rows = session.scalars(_ready(dataset.id).order_by(DatasetVersionRow.version))
        return [DatasetVersion._of(row, name) for row in rows]


STAGING_GRACE = timedelta(days=1)
"""How old unreferenced data of a dataset without versions, or staged data, must be to be removed."""


def collect_garbage(
    kit: Kit, *, dry_run: bool = False, grace: timedelta = STAGING_GRACE
) -> list[str]:
    """Remove stored data that no version references, and return where it was.

    A snapshot whose metadata transaction fails after publishing leaves data that no manifest
    names (invisible, and reused if the same content is snapshotted again), and a crashed snapshot
    its staged data. All datasets are locked meanwhile, so no snapshot publishes while the
    warehouse is listed; data that a dataset without versions or a staging area holds is removed
    only when older than ``grace``, because a snapshot in flight may own it.

    Raises:
        BackendError: the warehouse failed.
    """
    with kit.metadata.session() as session:
        datasets = session.scalars(select(Dataset).order_by(Dataset.id).with_for_update()).all()
        referenced: dict[str, set[str]] = {dataset.name: set() for dataset in datasets}
        names = {dataset.id: dataset.name for dataset in datasets}
        for dataset_id, storage in session.execute(
            select(DatasetVersionRow.dataset_id, DatasetVersionRow.storage)
        ):
            referenced[names[dataset_id]].add(storage)
        return kit.warehouse.collect_garbage(
            referenced, before=datetime.now(UTC) - grace, dry_run=dry_run
        )


LoadFormat = Literal["arrow", "pandas", "ibis", "sql"]


def load(kit: Kit, ref: DatasetRef | str, as_: LoadFormat = "arrow") -> Any:
    """Read version ``ref`` back.

    Args:
        kit: the environment.
        ref: the version.
        as_: ``arrow`` (a ``pyarrow.Table``) or ``pandas`` (a DataFrame) download the data — for
            small data; ``ibis`` returns the warehouse relation (build expressions, run them with
            ``kit.warehouse.execute``) and ``sql`` a ``SELECT`` reading only that version — for
            data that must stay in the warehouse.

    Raises:
        ConfigError: unknown ``as_``.
        NotFoundError: unknown dataset or version.
    """
    version = get_version(kit, ref)
    relation = kit.warehouse.table(version.storage)
    if as_ == "ibis":
        return relation
    if as_ == "sql":
        return kit.warehouse.compile(relation)
    if as_ not in ("arrow", "pandas"):
        raise ConfigError(f"unknown load format {as_!r}: use arrow, pandas, ibis or sql")
    data = kit.warehouse.execute(relation)
    return data.to_pandas() if as_ == "pandas" else data


def profile(kit: Kit, ref: DatasetRef | str) -> dict[str, Any]:
    """Per-column statistics of ``ref`` (:func:`mlops_kit.stats.profile`), computed once and stored.

    :func:`snapshot` stores them with the manifest; a version without them (made before snapshots
    profiled), or with a profile of an earlier :data:`~mlops_kit.stats.PROFILE_FORMAT`, is profiled
    on first request and its profile stored.

    Raises:
        NotFoundError: unknown dataset or version.
        BackendError: the warehouse failed.
    """
    ref = _as_ref(ref)
    with kit.metadata.session() as session:
        row = _row(session, ref)
        if _current(row.profile):
            return dict(row.profile)
        storage, row_id = row.storage, row.id
    result = stats.profile(kit.warehouse, kit.warehouse.table(storage))
    with kit.metadata.session() as session:
        stored = session.get(DatasetVersionRow, row_id)
        # Another process may have stored it meanwhile: the same statistics, kept as they are.
        if stored is not None and not _current(stored.profile):
            stored.profile = result
    return result


def _current(stored: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    """Whether a stored profile is of the current :data:`~mlops_kit.stats.PROFILE_FORMAT`."""
    return stored is not None and stored.get("format") == stats.PROFILE_FORMAT


@dataclass
class DatasetDiff:
    """The comparison of two dataset versions (or a version and a file).

    Attributes:
        summary: JSON-able result; keys ``a``, ``b``, ``identical``, ``schema`` (``added``,
            ``removed``, ``retyped``), ``rows``, ``columns`` (per column ``a``/``b`` statistics,
            ``drift``, ``categories``: ``new``, ``vanished`` and their ``new_count``,
            ``vanished_count``, whether they are ``exact``, and the largest share ``shifts``),
            ``conformance`` (see :func:`mlops_kit.stats.conformance`)
            and ``keys`` (with ``--key``: ``added``, ``removed``, ``changed`` counts and examples).
        histograms: per numeric column the reference and current histograms on common bins.
    """

    summary: dict[str, Any]
    histograms: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)

    def violations(self, rules: str) -> list[str]:
        """The rules of ``rules`` that this diff breaks (empty when it passes).

        ``rules`` is a comma-separated list of: ``conformance`` (any value that does not parse as
        its expected type), ``schema`` (any added, removed or retyped column), ``psi>X``, ``ks>X``,
        ``js>X`` (drift of any column above X), ``nulls>X`` (a column's null rate grows by more than
        X), ``rows>X`` (row count changes by more than the fraction X).

        Raises:
            ConfigError: a rule is not understood.
        """
        broken: list[str] = []
        for rule in (part.strip() for part in rules.split(",") if part.strip()):
            broken += _check_rule(self.summary, rule)
        return broken


_RULE = re.compile(r"^(psi|ks|js|nulls|rows)\s*>\s*([0-9]*\.?[0-9]+)$")


def _check_rule(summary: Mapping[str, Any], rule: str) -> list[str]:
    if rule == "conformance":
        return [
            f"conformance: {name} has {item['nonconforming']} values that are not {item['expected']}"
            for name, item in summary["conformance"].items()
            if item["nonconforming"]
        ]
    if rule == "schema":
        schema = summary["schema"]
        changes = [f"+{c['name']}" for c in schema["added"]]
        changes += [f"-{c['name']}" for c in schema["removed"]]
        changes += [f"{c['name']}: {c['from']}→{c['to']}" for c in schema["retyped"]]
        return [f"schema: {', '.join(changes)}"] if changes else []
    match = _RULE.match(rule)
    if match is None:
        raise ConfigError(
            f"unknown --fail-on rule {rule!r}: use conformance, schema, psi>X, ks>X, js>X, "
            "nulls>X or rows>X"
        )
    measure, limit = match.group(1), float(match.group(2))
    if measure == "rows":
        change = summary["rows"]["change_rate"]
        return (
            [f"rows: changed by {change:+.1%} (limit {limit:.1%})"] if abs(change) > limit else []
        )
    broken = []
    for name, column in summary["columns"].items():
        if measure == "nulls":
            a, b = column.get("a"), column.get("b")
            if a and b and b["null_rate"] - a["null_rate"] > limit:
                broken.append(f"nulls: {name} null rate {a['null_rate']:.3f}→{b['null_rate']:.3f}")
            continue
        value = (column.get("drift") or {}).get(measure)
        if value is not None and value > limit:
            broken.append(f"{measure}: {name} = {value:.3f} > {limit}")
    return broken


_SHOWN = ("type", "null_rate", "distinct", "min", "max", "mean", "std", "quantiles")


def _numeric_kind(type_name: str) -> bool:
    import ibis.expr.datatypes as dt

    return bool(dt.dtype(type_name).is_numeric())


def diff(
    kit: Kit,
    a: DatasetRef | str,
    b: DatasetRef | str | Path,
    *,
    key: str | None = None,
) -> DatasetDiff:
    """Compare version ``a`` (the reference) with version ``b`` or a file ``b``.

    Statistics of versions come from their stored profiles, whose histograms are compared on
    common bins (see :mod:`mlops_kit.stats`); the diff itself reads ``b`` only for its type
    conformance, for the histograms of columns that are text now or whose ranges are too far
    apart, and to join both on ``key``.

    Raises:
        ConfigError: malformed reference, unreadable file, or ``key`` missing or not unique.
        NotFoundError: unknown dataset or version, or missing file.
        BackendError: the warehouse failed.
    """
    warehouse = kit.warehouse
    ref_a = _as_ref(a)
    version_a = get_version(kit, ref_a)
    profile_a = profile(kit, version_a.ref)
    table_a = warehouse.table(version_a.storage)
    staged: StagedData | None = None
    try:
        if isinstance(b, Path):
            staged = warehouse.stage(version_a.name, Source(path=b))
            table_b = warehouse.table(staged.location)
            profile_b = stats.profile(warehouse, table_b)
            label_b, rows_b, fingerprint_b = str(b), staged.row_count, staged.fingerprint
        else:
            version_b = get_version(kit, _as_ref(b))
            profile_b = profile(kit, version_b.ref)
            table_b = warehouse.table(version_b.storage)
            label_b, rows_b, fingerprint_b = (
                version_b.ref,
                version_b.row_count,
                version_b.fingerprint,
            )
        result = _compare(warehouse, table_a, profile_a, table_b, profile_b, key)
    finally:
        if staged is not None:
            warehouse.discard(staged)
    rows_a = version_a.row_count
    result.summary = {
        "a": {"ref": version_a.ref, "rows": rows_a, "fingerprint": version_a.fingerprint},
        "b": {"ref": label_b, "rows": rows_b, "fingerprint": fingerprint_b},
        "identical": version_a.fingerprint == fingerprint_b,
        "rows": {
            "a": rows_a,
            "b": rows_b,
            "change": rows_b - rows_a,
            "change_rate": (rows_b - rows_a) / rows_a if rows_a else 0.0,
        },
        **result.summary,
    }
    return result


def _compare(
    warehouse: Warehouse,
    table_a: ibis.Table,
    profile_a: Mapping[str, Any],
    table_b: ibis.Table,
    profile_b: Mapping[str, Any],
    key: str | None,
) -> DatasetDiff:
    columns_a, columns_b = profile_a["columns"], profile_b["columns"]
    types_a = {name: column["type"] for name, column in columns_a.items()}
    types_b = {name: column["type"] for name, column in columns_b.items()}
    schema = {
        "added": [{"name": n, "type": t} for n, t in types_b.items() if n not in types_a],
        "removed": [{"name": n, "type": t} for n, t in types_a.items() if n not in types_b],
        "retyped": [
            {"name": n, "from": t, "to": types_b[n]}
            for n, t in types_a.items()
            if n in types_b and types_b[n] != t
        ],
    }
    conformance = stats.conformance(warehouse, table_b, types_a)
    # Text that should be numbers is compared as the numbers it holds; the rest becomes null.
    coerced = [name for name in conformance if _numeric_kind(types_a[name])]
    # Numeric histograms come from both stored profiles, re-counted on common bins; only columns
    # whose ranges are too far apart, or that are text now, are binned again on the reference's.
    binned: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    rescan: dict[str, stats.Bins] = {}
    for name, column_a in columns_a.items():
        column_b = columns_b.get(name)
        if "histogram" not in column_a or column_b is None:
            continue
        pair = (
            stats.aligned(column_a["histogram"], column_b["histogram"])
            if "histogram" in column_b
            else None
        )
        if pair is not None:
            binned[name] = pair
        elif name in coerced or _numeric_kind(types_b[name]):
            rescan[name] = stats.Bins.of(column_a["histogram"])
    if rescan:
        numbers = table_b.mutate(**{name: table_b[name].try_cast("float64") for name in coerced})
        for name, histogram in stats.histograms(warehouse, numbers, rescan).items():
            binned[name] = (columns_a[name]["histogram"], histogram)
    # Top-k lists tell new and vanished categories only among their own; where either version has
    # more categories, they are compared in the data (up to CATEGORY_LIMIT of them).
    categorical = [
        name
        for name, column_a in columns_a.items()
        if column_a["kind"] == "categorical"
        and columns_b.get(name, {}).get("kind") == "categorical"
    ]
    beyond_top = [
        name
        for name in categorical
        if (columns_a[name].get("other") or columns_b[name].get("other"))
        and max(columns_a[name]["distinct"], columns_b[name]["distinct"]) <= stats.CATEGORY_LIMIT
    ]
    changes = stats.category_changes(warehouse, table_a, table_b, beyond_top) if beyond_top else {}
    columns: dict[str, Any] = {}
    for name, column_a in columns_a.items():
        column_b = columns_b.get(name)
        if column_b is None:
            continue
        entry: dict[str, Any] = {
            "a": {k: column_a[k] for k in _SHOWN if k in column_a},
            "b": {k: column_b[k] for k in _SHOWN if k in column_b},
            "drift": stats.column_drift(column_a, column_b, binned.get(name)),
        }
        if name in categorical:
            entry["categories"] = _categories(column_a, column_b, changes.get(name))
        columns[name] = entry
    summary: dict[str, Any] = {"schema": schema, "columns": columns, "conformance": conformance}
    summary["keys"] = _key_changes(warehouse, table_a, table_b, key) if key else None
    return DatasetDiff(summary, binned)


def _categories(
    a: Mapping[str, Any], b: Mapping[str, Any], changes: Mapping[str, Any] | None
) -> dict[str, Any]:
    """New, vanished and most shifted categories; from the data's ``changes`` where given."""
    counts_a = dict(a.get("top", []))
    counts_b = dict(b.get("top", []))
    total_a = sum(counts_a.values()) + a.get("other", 0) or 1
    total_b = sum(counts_b.values()) + b.get("other", 0) or 1
    shifts = sorted(
        (
            [value, counts_a.get(value, 0) / total_a, counts_b.get(value, 0) / total_b]
            for value in set(counts_a) | set(counts_b)
        ),
        key=lambda item: (-abs(item[2] - item[1]), str(item[0])),
    )
    # Exact when counted in the data or when both top lists hold every category.
    exact = changes is not None or not (a.get("other") or b.get("other"))
    if changes is None:
        new = sorted(set(counts_b) - set(counts_a), key=str)
        vanished = sorted(set(counts_a) - set(counts_b), key=str)
        changes = {
            "new": new[: stats.CATEGORY_EXAMPLES],
            "new_count": len(new),
            "vanished": vanished[: stats.CATEGORY_EXAMPLES],
            "vanished_count": len(vanished),
        }
    return {**changes, "exact": exact, "shifts": shifts[:5]}


def _key_changes(
    warehouse: Warehouse, table_a: ibis.Table, table_b: ibis.Table, key: str
) -> dict[str, Any]:
    import ibis

    for label, table in (("reference", table_a), ("current", table_b)):
        if key not in table.schema():
            raise ConfigError(
                f"key column {key!r} is not in the {label} data: pick a shared column"
            )
    uniqueness = warehouse.execute(
        ibis.union(
            table_a.aggregate(n=table_a.count(), d=table_a[key].nunique()),
            table_b.aggregate(n=table_b.count(), d=table_b[key].nunique()),
        )
    ).to_pylist()
    if any(row["n"] != row["d"] for row in uniqueness):
        raise ConfigError(f"key column {key!r} is not unique (or has nulls): pick a unique key")
    shared = [n for n in table_a.schema() if n != key and n in table_b.schema()]
    a = table_a.select(key, *(table_a[n].cast("string").name(n) for n in shared))
    b = table_b.select(key, *(table_b[n].cast("string").name(f"{n}__b") for n in shared))
    joined = a.inner_join(b, key)
    differs = ibis.or_(*(~joined[n].identical_to(joined[f"{n}__b"]) for n in shared))
    parts = {
        "added": b.anti_join(a, key).select(key),
        "removed": a.anti_join(b, key).select(key),
        "changed": joined.filter(differs).select(key) if shared else joined.limit(0).select(key),
    }
    counts = warehouse.execute(
        ibis.union(
            *(
                part.aggregate(n=part.count()).mutate(kind=ibis.literal(kind))
                for kind, part in parts.items()
            )
        )
    ).to_pylist()
    examples = warehouse.execute(
        ibis.union(
            *(
                part.order_by(key)
                .limit(stats.EXAMPLES)
                .select(kind=ibis.literal(kind), key=part[key].cast("string"))
                for kind, part in parts.items()
            )
        )
    ).to_pylist()
    result: dict[str, Any] = {"key": key}
    for row in counts:
        result[row["kind"]] = int(row["n"])
    result["examples"] = {kind: [] for kind in parts}
    for row in examples:
        result["examples"][row["kind"]].append(row["key"])
    for values in result["examples"].values():
        values.sort()
    return result


def diff_page(result: DatasetDiff) -> Page:
    """A :class:`mlops_kit.reports.Page` showing ``result`` with charts (write it with ``.write``)."""
    from mlops_kit.reports import Page, format_number

    summary = result.summary
    page = Page(f"Dataset diff: {summary['a']['ref']} → {summary['b']['ref']}")
    rows = summary["rows"]
    page.paragraph(
        f"Rows {rows['a']} → {rows['b']} ({rows['change']:+d}). "
        + ("Identical content." if summary["identical"] else "Content differs.")
    )
    conformance = summary["conformance"]
    page.heading("Type conformance")
    if conformance:
        page.table(
            ["column", "expected", "actual", "nonconforming", "checked", "examples"],
            [
                [
                    n,
                    c["expected"],
                    c["actual"],
                    c["nonconforming"],
                    c["checked"],
                    ", ".join(f"{v!r} ×{k}" for v, k in c["examples"]),
                ]
                for n, c in conformance.items()
            ],
            flagged=[i for i, c in enumerate(conformance.values()) if c["nonconforming"]],
        )
    else:
        page.paragraph("Every value parses as its column's expected type.", note=True)
    schema = summary["schema"]
    page.heading("Schema")
    changes = [["added", c["name"], "", c["type"]] for c in schema["added"]]
    changes += [["removed", c["name"], c["type"], ""] for c in schema["removed"]]
    changes += [["retyped", c["name"], c["from"], c["to"]] for c in schema["retyped"]]
    if changes:
        page.table(["change", "column", "before", "after"], changes, flagged=range(len(changes)))
    else:
        page.paragraph("No schema change.", note=True)
    page.heading("Columns")
    table_rows, flagged = [], []
    for index, (name, column) in enumerate(summary["columns"].items()):
        drift = column["drift"] or {}
        a, b = column["a"], column["b"]
        measure = (
            f"PSI {drift['psi']:.3f}, KS {drift['ks']:.3f}"
            if "psi" in drift
            else f"JS {drift['js']:.3f}"
            if "js" in drift
            else ""
        )
        if drift.get("psi", 0) > 0.2 or drift.get("js", 0) > 0.1:
            flagged.append(index)
        table_rows.append(
            [
                name,
                f"{a['type']} → {b['type']}",
                f"{a['null_rate']:.3f} → {b['null_rate']:.3f}",
                f"{a['distinct']} → {b['distinct']}",
                f"{format_number(a.get('mean'))} → {format_number(b.get('mean'))}",
                measure,
            ]
        )
    page.table(
        ["column", "type", "null rate", "distinct", "mean", "drift"], table_rows, flagged=flagged
    )
    if summary.get("keys"):
        keys = summary["keys"]
        page.heading(f"Rows by key {keys['key']}")
        page.table(
            ["change", "rows", "examples"],
            [
                [kind, keys[kind], ", ".join(keys["examples"][kind])]
                for kind in ("added", "removed", "changed")
            ],
        )
    page.heading("Distributions")
    for name, (hist_a, hist_b) in result.histograms.items():
        labels, shares_a, shares_b = stats.grouped_shares(hist_a, hist_b, 20)
        page.bars(name, labels, {summary["a"]["ref"]: shares_a, summary["b"]["ref"]: shares_b})
    for name, column in summary["columns"].items():
        if "categories" in column:
            shifts = column["categories"]["shifts"]
            page.bars(
                name,
                [str(value) for value, _, _ in shifts],
                {
                    summary["a"]["ref"]: [s[1] for s in shifts],
                    summary["b"]["ref"]: [s[2] for s in shifts],
                },
            )
    return page
