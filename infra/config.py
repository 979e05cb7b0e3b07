"""The stack configuration, read once into a typed object.

Everything that differs between environments (sizes, availability, protections, lifecycle ages)
lives in ``environments/Pulumi.<env>.yaml`` under the ``mlops-kit:`` namespace; the components only
receive the typed :class:`StackConfig`. A bad value is a :class:`StackConfigError` that names the key.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar, cast

NAMESPACE: Final = "mlops-kit"
REQUIRED_LABELS: Final = ("env", "team", "cost-center")

Orchestrator = Literal["kubeflow", "vertex"]
Availability = Literal["ZONAL", "REGIONAL"]
ReleaseChannel = Literal["RAPID", "REGULAR", "STABLE"]
KubeflowDatabase = Literal["cloudsql", "in-cluster"]

_LABEL_VALUE: Final = re.compile(r"^[a-z0-9_-]{1,63}$")
_PROJECT_ID: Final = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_MEMBER: Final = re.compile(r"^(group|serviceAccount|user|domain):\S+$")
_T = TypeVar("_T")


class StackConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the key and what to do."""


class _Section:
    """Typed reads from one mapping of the configuration, with errors that name the full key."""

    def __init__(self, values: Mapping[str, Any], path: str) -> None:
        self._values = values
        self._path = path
        self._read: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self._path}{name}" if self._path.endswith(":") else f"{self._path}.{name}"

    def _raw(self, name: str) -> Any:
        self._read.add(name)
        return self._values.get(name)

    def _fail(self, name: str, value: Any, expected: str) -> StackConfigError:
        return StackConfigError(
            f"config key {self.key(name)!r} is {value!r}: expected {expected} "
            f"(set it in environments/Pulumi.<env>.yaml)"
        )

    def string(self, name: str, default: str | None = None) -> str:
        value = self._raw(name)
        if value is None:
            if default is None:
                raise StackConfigError(
                    f"config key {self.key(name)!r} is missing: set it in "
                    "environments/Pulumi.<env>.yaml"
                )
            return default
        if not isinstance(value, str) or not value.strip():
            raise self._fail(name, value, "a non-empty string")
        return value.strip()

    def optional_string(self, name: str) -> str | None:
        return None if self._raw(name) is None else self.string(name)

    def choice(self, name: str, choices: tuple[_T, ...], default: _T) -> _T:
        value = self._raw(name)
        if value is None:
            return default
        if value not in choices:
            raise self._fail(name, value, "one of " + ", ".join(map(str, choices)))
        return cast(_T, value)

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        value = self._raw(name)
        if value is None:
            return default
        # Pulumi passes numbers through YAML and JSON: 7, 7.0 and "7" all mean 7.
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(name, value, "an integer")
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f">= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
            raise self._fail(name, value, f"an integer {bounds}")
        return value

    def number(self, name: str, minimum: float = 0.0) -> float:
        value = self._raw(name)
        if value is None:
            raise StackConfigError(
                f"config key {self.key(name)!r} is missing: set it in environments/Pulumi.<env>.yaml"
            )
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise self._fail(name, value, "a number") from None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise self._fail(name, value, f"a number >= {minimum}")
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise self._fail(name, value, "true or false")
        return value

    def cidr(self, name: str, default: str) -> str:
        value = self.string(name, default)
        try:
            return str(ipaddress.ip_network(value))
        except ValueError:
            raise self._fail(name, value, "a CIDR range such as 10.0.0.0/20") from None

    def members(self, name: str) -> tuple[str, ...]:
        value = self._raw(name)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(name, value, "a list of IAM members")
        for member in value:
            if not _MEMBER.match(member):
                raise self._fail(
                    name, member, "members like 'group:team@example.com' (no allUsers)"
                )
        return tuple(value)

    def strings(self, name: str) -> tuple[str, ...]:
        value = self._raw(name)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self._fail(name, value, "a list of strings")
        return tuple(value)

    def section(self, name: str) -> _Section:
        value = self._raw(name)
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise self._fail(name, value, "a mapping of keys to values")
        return _Section(value, self.key(name))

    def finish(self) -> None:
        unknown = sorted(set(self._values) - self._read)
        if unknown:
            raise StackConfigError(
                f"unknown config key {self.key(unknown[0])!r}: remove it or check its spelling"
            )


@dataclass(frozen=True)
class AuthorizedNetwork:
    """A CIDR block allowed to reach the GKE control plane's private endpoint."""

    cidr: str
    name: str


@dataclass(frozen=True)
class NetworkConfig:
    """Address plan of the environment's VPC."""

    subnet_cidr: str
    """Primary range of the subnet (nodes, Cloud SQL clients, internal load balancers)."""
    pods_cidr: str
    """Secondary range for GKE pods."""
    services_cidr: str
    """Secondary range for GKE services."""
    control_plane_cidr: str
    """/28 range of the private GKE control plane."""
    private_service_prefix_length: int
    """Prefix length of the range reserved for private service access (Cloud SQL)."""
    authorized_networks: tuple[AuthorizedNetwork, ...]
    """Who may reach the cluster's control plane; the subnet itself is always authorized."""


@dataclass(frozen=True)
class WarehouseConfig:
    """BigQuery datasets of training-data versions and prediction logs."""

    location: str
    """BigQuery location (``EU``, ``US`` or a region)."""
    readers: tuple[str, ...]
    """Groups (or service accounts) that may read the datasets, e.g. ``group:analysts@acme.com``."""
    time_travel_hours: int
    """Time-travel window of the datasets (48-168 hours)."""
    version_tables: tuple[str, ...] = ()
    """Version tables created up front (the kit also creates them on a first snapshot)."""


@dataclass(frozen=True)
class ModelStoreConfig:
    """GCS bucket of model artifacts and pipeline roots."""

    location: str
    """Bucket location (region or multi-region)."""
    nearline_after_days: int
    """Age at which objects move from STANDARD to NEARLINE."""
    coldline_after_days: int
    """Age at which objects move to COLDLINE."""
    archive_after_days: int
    """Age at which objects move to ARCHIVE."""
    noncurrent_versions_kept: int
    """Newer versions after which a noncurrent object version is deleted."""
    noncurrent_days_kept: int
    """Days after which a noncurrent object version is deleted."""
    soft_delete_days: int
    """Soft-delete retention; at least 7 days (the GCS default)."""
    object_retention: bool
    """Enable Object Retention Lock (per-object immutability; compatible with versioning)."""
    force_destroy: bool
    """Let ``pulumi destroy`` delete a non-empty bucket; only allowed in ``dev``."""


@dataclass(frozen=True)
class MetadataDbConfig:
    """Cloud SQL for PostgreSQL instance of the kit's metadata."""

    database_version: str
    tier: str
    """Machine tier, e.g. ``db-custom-2-7680``."""
    availability: Availability
    """``REGIONAL`` (high availability, a standby in another zone) or ``ZONAL``."""
    disk_size_gb: int
    retained_backups: int
    """Automated backups kept (at least 7)."""
    transaction_log_days: int
    """Point-in-time recovery window in days (1-7)."""


@dataclass(frozen=True)
class ClusterConfig:
    """Private GKE cluster that runs Kubeflow Pipelines."""

    release_channel: ReleaseChannel
    system_machine_type: str
    """Machine type of the always-on pool (KFP control plane)."""
    system_max_nodes: int
    pipeline_machine_type: str
    """Machine type of the pipeline pool, which scales to zero between runs."""
    pipeline_max_nodes: int
    deletion_protection: bool
    security_group: str | None
    """Google Group for RBAC (``gke-security-groups@DOMAIN``), when the organisation uses it."""


@dataclass(frozen=True)
class KubeflowConfig:
    """Kubeflow Pipelines (standalone) on the cluster."""

    version: str
    """Pinned KFP release whose manifests are applied."""
    database: KubeflowDatabase
    """``cloudsql`` (Cloud SQL for MySQL) or ``in-cluster`` (MySQL pod; development only)."""
    mysql_tier: str
    dns_domain: str
    """Private DNS zone of the environment; the UI/API is ``kfp.<dns_domain>``."""


@dataclass(frozen=True)
class BudgetConfig:
    """Monthly budget alert of the environment."""

    billing_account: str
    amount: float
    currency: str
    thresholds: tuple[float, ...]


@dataclass(frozen=True)
class StackConfig:
    """The whole configuration of one environment."""

    environment: str
    project: str
    region: str
    team: str
    cost_center: str
    orchestrator: Orchestrator
    name_prefix: str
    """Prefix of every physical name (``mlops`` → ``mlops-dev-metadata``)."""
    key_rotation_days: int
    log_retention_days: int
    """Retention of the audit-log bucket (locked: it can only grow)."""
    network: NetworkConfig
    warehouse: WarehouseConfig
    model_store: ModelStoreConfig
    metadata_db: MetadataDbConfig
    budget: BudgetConfig
    cluster: ClusterConfig | None = None
    """Set when ``orchestrator`` is ``kubeflow``."""
    kubeflow: KubeflowConfig | None = None
    """Set when ``orchestrator`` is ``kubeflow``."""
    vertex_model_registry: bool = False
    """Mirror READY model versions to the Vertex AI Model Registry."""
    cmek: bool = True
    """Encrypt data with customer-managed Cloud KMS keys (one per service and location)."""
    ci_repositories: tuple[str, ...] = ()
    """GitHub repositories (``org/repo``) whose Actions deploy as the deployer (federated, keyless)."""
    notification_emails: tuple[str, ...] = ()
    """Who receives budget and security-change alerts."""
    extra_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def labels(self) -> dict[str, str]:
        """The labels every resource that takes labels carries."""
        return {
            **self.extra_labels,
            "env": self.environment,
            "team": self.team,
            "cost-center": self.cost_center,
        }

    def physical_name(self, suffix: str) -> str:
        """``<prefix>-<env>-<suffix>``: unique per environment within a project."""
        return f"{self.name_prefix}-{self.environment}-{suffix}"


def _label(section: _Section, name: str, value: str) -> str:
    if not _LABEL_VALUE.match(value):
        raise StackConfigError(
            f"config key {section.key(name)!r} is {value!r}: labels are 1-63 lower-case letters, "
            "digits, '-' or '_'"
        )
    return value


def parse_config(values: Mapping[str, Any], environment: str) -> StackConfig:  # noqa: C901, PLR0912, PLR0915
    """Build the typed configuration from the ``config:`` block of a stack file.

    Args:
        values: keys as in ``Pulumi.<env>.yaml`` (``gcp:project``, ``mlops-kit:network`` ...) with
            values already decoded (objects as mappings).
        environment: the stack name (``dev``, ``staging``, ``prod``).

    Raises:
        StackConfigError: a key is missing, unknown or invalid; the message names it.
    """
    ours = {
        key.removeprefix(f"{NAMESPACE}:"): value
        for key, value in values.items()
        if key.startswith(f"{NAMESPACE}:")
    }
    root = _Section(ours, f"{NAMESPACE}:")
    gcp = _Section({k.removeprefix("gcp:"): v for k, v in values.items()}, "gcp:")
    project = gcp.string("project")
    if not _PROJECT_ID.match(project):
        raise StackConfigError(f"config key 'gcp:project' is {project!r}: not a project id")
    region = gcp.string("region")
    if not re.match(r"^[a-z]+-[a-z]+\d+$", region):
        raise StackConfigError(f"config key 'gcp:region' is {region!r}: expected e.g. europe-west1")

    orchestrator = root.choice("orchestrator", ("kubeflow", "vertex"), "kubeflow")
    name_prefix = _label(root, "namePrefix", root.string("namePrefix", "mlops"))

    net = root.section("network")
    authorized = net._raw("authorizedNetworks") or []
    if not isinstance(authorized, list) or not all(
        isinstance(item, Mapping) and {"cidr", "name"} <= set(item) for item in authorized
    ):
        raise StackConfigError(
            f"config key {net.key('authorizedNetworks')!r} must be a list of {{cidr, name}}"
        )
    networks = []
    for item in authorized:
        cidr = str(item["cidr"])
        if cidr in ("0.0.0.0/0", "::/0"):
            raise StackConfigError(
                f"config key {net.key('authorizedNetworks')!r} opens the control plane to the "
                "internet (0.0.0.0/0): list your VPN or bastion ranges instead"
            )
        try:
            ipaddress.ip_network(cidr)
        except ValueError:
            raise StackConfigError(
                f"config key {net.key('authorizedNetworks')!r} has {cidr!r}: not a CIDR range"
            ) from None
        networks.append(AuthorizedNetwork(cidr=cidr, name=str(item["name"])))
    network = NetworkConfig(
        subnet_cidr=net.cidr("subnetCidr", "10.10.0.0/20"),
        pods_cidr=net.cidr("podsCidr", "10.20.0.0/14"),
        services_cidr=net.cidr("servicesCidr", "10.24.0.0/20"),
        control_plane_cidr=net.cidr("controlPlaneCidr", "172.16.0.0/28"),
        private_service_prefix_length=net.integer("privateServicePrefixLength", 20, 8, 24),
        authorized_networks=tuple(networks),
    )
    net.finish()

    wh = root.section("warehouse")
    warehouse = WarehouseConfig(
        location=wh.string("location", "EU"),
        readers=wh.members("readers"),
        time_travel_hours=wh.integer("timeTravelHours", 168, 48, 168),
        version_tables=wh.strings("versionTables"),
    )
    for table in warehouse.version_tables:
        if not re.match(r"^[a-z][a-z0-9_]{0,127}$", table):
            raise StackConfigError(
                f"config key {wh.key('versionTables')!r} has {table!r}: table names are "
                "lower-case letters, digits and '_'"
            )
    wh.finish()

    ms = root.section("modelStore")
    model_store = ModelStoreConfig(
        location=ms.string("location", region.upper()),
        nearline_after_days=ms.integer("nearlineAfterDays", 30, 1),
        coldline_after_days=ms.integer("coldlineAfterDays", 90, 1),
        archive_after_days=ms.integer("archiveAfterDays", 365, 1),
        noncurrent_versions_kept=ms.integer("noncurrentVersionsKept", 3, 1),
        noncurrent_days_kept=ms.integer("noncurrentDaysKept", 90, 1),
        soft_delete_days=ms.integer("softDeleteDays", 7, 7, 90),
        object_retention=ms.boolean("objectRetention", False),
        force_destroy=ms.boolean("forceDestroy", False),
    )
    ages = (
        model_store.nearline_after_days,
        model_store.coldline_after_days,
        model_store.archive_after_days,
    )
    if list(ages) != sorted(set(ages)):
        raise StackConfigError(
            f"config keys {ms.key('nearlineAfterDays')!r} < {ms.key('coldlineAfterDays')!r} < "
            f"{ms.key('archiveAfterDays')!r} must increase, got {ages}"
        )
    if model_store.force_destroy and environment != "dev":
        raise StackConfigError(
            f"config key {ms.key('forceDestroy')!r} is true in {environment!r}: force_destroy "
            "would delete every model on `pulumi destroy`; it is only allowed in dev"
        )
    ms.finish()

    db = root.section("metadataDb")
    metadata_db = MetadataDbConfig(
        database_version=db.string("databaseVersion", "POSTGRES_17"),
        tier=db.string("tier", "db-custom-1-3840"),
        availability=db.choice("availability", ("ZONAL", "REGIONAL"), "REGIONAL"),
        disk_size_gb=db.integer("diskSizeGb", 20, 10),
        retained_backups=db.integer("retainedBackups", 14, 7, 365),
        transaction_log_days=db.integer("transactionLogDays", 7, 1, 7),
    )
    if not metadata_db.database_version.startswith("POSTGRES_"):
        raise StackConfigError(
            f"config key {db.key('databaseVersion')!r} is {metadata_db.database_version!r}: "
            "the kit's metadata needs PostgreSQL (POSTGRES_15 or later)"
        )
    db.finish()

    cluster: ClusterConfig | None = None
    kubeflow: KubeflowConfig | None = None
    if orchestrator == "vertex":
        for key in ("cluster", "kubeflow"):
            if ours.get(key):
                raise StackConfigError(
                    f"config key {root.key(key)!r} applies only to orchestrator 'kubeflow' "
                    f"(this stack uses 'vertex', which creates no cluster): remove it"
                )
    gke = root.section("cluster")
    kfp = root.section("kubeflow")
    if orchestrator == "kubeflow":
        cluster = ClusterConfig(
            release_channel=gke.choice("releaseChannel", ("RAPID", "REGULAR", "STABLE"), "REGULAR"),
            system_machine_type=gke.string("systemMachineType", "e2-standard-4"),
            system_max_nodes=gke.integer("systemMaxNodes", 3, 1),
            pipeline_machine_type=gke.string("pipelineMachineType", "e2-standard-8"),
            pipeline_max_nodes=gke.integer("pipelineMaxNodes", 5, 1),
            deletion_protection=gke.boolean("deletionProtection", True),
            security_group=gke.optional_string("securityGroup"),
        )
        kubeflow = KubeflowConfig(
            version=kfp.string("version", "2.5.0"),
            database=kfp.choice("database", ("cloudsql", "in-cluster"), "cloudsql"),
            mysql_tier=kfp.string("mysqlTier", "db-custom-1-3840"),
            dns_domain=kfp.string("dnsDomain", f"{environment}.mlops.internal"),
        )
        if not re.match(r"^\d+\.\d+\.\d+$", kubeflow.version):
            raise StackConfigError(
                f"config key {kfp.key('version')!r} is {kubeflow.version!r}: pin a release "
                "such as 2.5.0"
            )
    gke.finish()
    kfp.finish()

    bud = root.section("budget")
    budget = BudgetConfig(
        billing_account=bud.string("billingAccount"),
        amount=bud.number("amount", minimum=1.0),
        currency=bud.string("currency", "EUR"),
        thresholds=_thresholds(bud),
    )
    bud.finish()

    extra = root._raw("labels") or {}
    if not isinstance(extra, Mapping):
        raise StackConfigError(f"config key {root.key('labels')!r} must be a mapping")
    if not _LABEL_VALUE.match(environment):
        raise StackConfigError(
            f"stack name {environment!r} is also the 'env' label: use lower-case letters, "
            "digits, '-' or '_' (dev, staging, prod)"
        )
    config = StackConfig(
        environment=environment,
        project=project,
        region=region,
        team=_label(root, "team", root.string("team")),
        cost_center=_label(root, "costCenter", root.string("costCenter")),
        orchestrator=orchestrator,
        name_prefix=name_prefix,
        key_rotation_days=root.integer("keyRotationDays", 90, 1, 90),
        log_retention_days=root.integer("logRetentionDays", 400, 1),
        network=network,
        warehouse=warehouse,
        model_store=model_store,
        metadata_db=metadata_db,
        budget=budget,
        cluster=cluster,
        kubeflow=kubeflow,
        vertex_model_registry=root.boolean("vertexModelRegistry", False),
        cmek=root.boolean("cmek", True),
        ci_repositories=_repositories(root),
        notification_emails=root.strings("notificationEmails"),
        extra_labels={str(k): _label(root, f"labels.{k}", str(v)) for k, v in extra.items()},
    )
    root.finish()
    return config


def _repositories(section: _Section) -> tuple[str, ...]:
    repositories = section.strings("ciRepositories")
    for repo in repositories:
        if not re.match(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", repo):
            raise StackConfigError(
                f"config key {section.key('ciRepositories')!r} has {repo!r}: "
                "expected GitHub 'owner/repository'"
            )
    return repositories


def _thresholds(section: _Section) -> tuple[float, ...]:
    values = section._raw("thresholds")
    if values is None:
        return (0.5, 0.9, 1.0)
    if not isinstance(values, list) or not values:
        raise StackConfigError(
            f"config key {section.key('thresholds')!r} must be a list such as [0.5, 0.9, 1.0]"
        )
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 2:
            raise StackConfigError(
                f"config key {section.key('thresholds')!r} has {value!r}: thresholds are "
                "fractions of the budget between 0 and 2 (0.9 = 90 %)"
            )
    return tuple(float(value) for value in values)


def decode_config_value(raw: Any) -> Any:
    """A config value as Pulumi hands it to the program: objects and numbers arrive as JSON text."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def load_config() -> StackConfig:
    """Read the running stack's configuration (inside ``pulumi up``/``preview`` or under mocks)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return parse_config(
        {key: decode_config_value(value) for key, value in values.items()}, pulumi.get_stack()
    )
