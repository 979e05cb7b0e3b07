"""The stack configuration, read once into a typed object.

Everything that differs between environments (sizes, availability, protections, lifecycle ages)
lives in ``environments/Pulumi.<env>.yaml`` under the ``mlops-kit:`` namespace; the components only
receive the typed :class:`StackConfig`. The sections are pydantic models (camelCase keys in the file,
snake_case attributes in code, unknown keys refused); a bad value is one :class:`StackConfigError`
line that names the key and what to do.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails, PydanticCustomError

from infra.addresses import is_internal
from infra.components.kubeflow_manifests import RELEASES

NAMESPACE: Final = "mlops-kit"
GCP_KEYS: Final = ("project", "region")
"""Keys of the ``gcp:`` namespace the program reads (the provider reads the rest)."""
REQUIRED_LABELS: Final = ("env", "team", "cost-center")
LONGEST_ACCOUNT_SUFFIX: Final = "-pipeline-runner"
"""Service-account ids are ``<namePrefix><suffix>``: 6-30 characters, the longest suffix is this."""
MAX_NAME_PREFIX: Final = 30 - len(LONGEST_ACCOUNT_SUFFIX)
FIX: Final = "set it in environments/Pulumi.<env>.yaml"

Orchestrator = Literal["kubeflow", "vertex"]
Availability = Literal["ZONAL", "REGIONAL"]
ReleaseChannel = Literal["RAPID", "REGULAR", "STABLE"]
KubeflowDatabase = Literal["cloudsql", "in-cluster"]
Admission = Literal["enforced", "dry-run"]
EndpointAccess = Literal["public", "dedicated", "private-service-connect"]


class StackConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the key and what to do."""


def _pattern(regex: str, expected: str) -> AfterValidator:
    """A check that a string matches ``regex``; the error says what is ``expected``."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise PydanticCustomError("config", expected)
        return value

    return AfterValidator(check)


def _not_bool(value: Any) -> Any:
    # YAML's true is an int to Python; a count or an amount given as true/false is a mistake.
    if isinstance(value, bool):
        raise PydanticCustomError("config", "expected a number, not true/false")
    return value


Text = Annotated[str, Field(min_length=1)]
Count = Annotated[int, BeforeValidator(_not_bool)]
Amount = Annotated[float, BeforeValidator(_not_bool)]
LabelValue = Annotated[
    Text,
    _pattern(r"[a-z0-9_-]{1,63}", "labels are 1-63 lower-case letters, digits, '-' or '_'"),
]
LabelKey = Annotated[
    Text,
    _pattern(
        r"[a-z][a-z0-9_-]{0,62}", "label keys start with a letter: 1-63 of a-z, 0-9, '-', '_'"
    ),
]
Member = Annotated[
    Text,
    _pattern(
        r"(group|serviceAccount|user|domain):\S+",
        "expected members like 'group:team@example.com' (no allUsers)",
    ),
]
TableName = Annotated[
    Text,
    _pattern(r"[a-z][a-z0-9_]{0,127}", "table names are lower-case letters, digits and '_'"),
]
Repository = Annotated[
    Text,
    _pattern(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", "expected GitHub 'owner/repository'"),
]
ProjectId = Annotated[
    Text, _pattern(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", "not a project id (e.g. acme-ml-dev)")
]
PredictHost = Annotated[
    Text,
    _pattern(
        r"(https?://)?[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?",
        "expected the host name or address of your forwarding rule, such as 10.10.0.5 or "
        "predict.prod.mlops.internal",
    ),
]
Threshold = Annotated[
    Amount,
    Field(gt=0, le=2),
]


class Section(BaseModel):
    """A mapping of the stack file: camelCase keys, unknown keys refused, values immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
    )


class AuthorizedNetwork(Section):
    """A CIDR block allowed to reach the GKE control plane's private endpoint."""

    cidr: ipaddress.IPv4Network
    name: Text

    @field_validator("cidr")
    @classmethod
    def _internal(cls, cidr: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        # Compared as a network: 0.0.0.0/1 or any public range opens the endpoint like 0.0.0.0/0.
        if not is_internal(cidr):
            raise PydanticCustomError(
                "config",
                "not an internal range (RFC 1918 or 100.64.0.0/10): it opens the control plane "
                "to the internet; list your VPN or bastion ranges instead",
            )
        return cidr


class NetworkConfig(Section):
    """Address plan of the environment's VPC."""

    subnet_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.10.0.0/20")
    """Primary range of the subnet (nodes, Cloud SQL clients, internal load balancers)."""
    pods_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.20.0.0/14")
    """Secondary range for GKE pods."""
    services_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.24.0.0/20")
    """Secondary range for GKE services."""
    control_plane_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("172.16.0.0/28")
    """/28 range of the private GKE control plane."""
    proxy_only_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.129.0.0/23")
    """Proxy-only subnet of the region's internal Application Load Balancers (KFP's Gateway);
    Google recommends a /23 (its proxies take their addresses from it)."""
    private_service_prefix_length: Count = Field(20, ge=8, le=24)
    """Prefix length of the range reserved for private service access (Cloud SQL)."""
    authorized_networks: tuple[AuthorizedNetwork, ...] = ()
    """Who may reach the cluster's control plane; the subnet itself is always authorized."""

    @field_validator(
        "subnet_cidr", "pods_cidr", "services_cidr", "control_plane_cidr", "proxy_only_cidr"
    )
    @classmethod
    def _internal(cls, cidr: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not is_internal(cidr):
            raise PydanticCustomError(
                "config", "not an internal range: use RFC 1918 space such as 10.0.0.0/20"
            )
        return cidr


class WarehouseConfig(Section):
    """BigQuery datasets of training-data versions and prediction logs."""

    location: Text = "EU"
    """BigQuery location (``EU``, ``US`` or a region)."""
    readers: tuple[Member, ...] = ()
    """Groups (or service accounts) that may read the datasets, e.g. ``group:analysts@acme.com``."""
    time_travel_hours: Count = Field(168, ge=48, le=168)
    """Time-travel window of the datasets (48-168 hours)."""
    version_tables: tuple[TableName, ...] = ()
    """Version tables created up front (the kit also creates them on a first snapshot)."""


class ModelStoreConfig(Section):
    """GCS bucket of model artifacts and pipeline roots."""

    location: Text
    """Bucket location (region or multi-region); the stack's region when omitted."""
    nearline_after_days: Count = Field(30, ge=1)
    """Age at which objects move from STANDARD to NEARLINE."""
    coldline_after_days: Count = Field(90, ge=1)
    """Age at which objects move to COLDLINE."""
    archive_after_days: Count = Field(365, ge=1)
    """Age at which objects move to ARCHIVE."""
    noncurrent_versions_kept: Count = Field(3, ge=1)
    """Newer versions after which a noncurrent object version is deleted."""
    noncurrent_days_kept: Count = Field(90, ge=1)
    """Days after which a noncurrent object version is deleted."""
    soft_delete_days: Count = Field(7, ge=7, le=90)
    """Soft-delete retention; at least 7 days (the GCS default)."""
    object_retention: bool = False
    """Enable Object Retention Lock (per-object immutability; compatible with versioning)."""
    force_destroy: bool = False
    """Let ``pulumi destroy`` delete a non-empty bucket; only allowed in ``dev``."""

    @model_validator(mode="after")
    def _ages_increase(self) -> Self:
        ages = (self.nearline_after_days, self.coldline_after_days, self.archive_after_days)
        if list(ages) != sorted(set(ages)):
            raise StackConfigError(
                f"config keys '{NAMESPACE}:modelStore.nearlineAfterDays' < 'coldlineAfterDays' < "
                f"'archiveAfterDays' must increase, got {ages}: {FIX}"
            )
        return self


class MetadataDbConfig(Section):
    """Cloud SQL for PostgreSQL instance of the kit's metadata."""

    database_version: Annotated[
        Text,
        _pattern(r"POSTGRES_\d+", "the kit's metadata needs PostgreSQL (POSTGRES_15 or later)"),
    ] = "POSTGRES_17"
    tier: Text = "db-custom-1-3840"
    """Machine tier, e.g. ``db-custom-2-7680``."""
    availability: Availability = "REGIONAL"
    """``REGIONAL`` (high availability, a standby in another zone) or ``ZONAL``."""
    disk_size_gb: Count = Field(20, ge=10)
    retained_backups: Count = Field(14, ge=7, le=365)
    """Automated backups kept (at least 7)."""
    transaction_log_days: Count = Field(7, ge=1, le=7)
    """Point-in-time recovery window in days (1-7)."""


class ClusterConfig(Section):
    """Private GKE cluster that runs Kubeflow Pipelines."""

    release_channel: ReleaseChannel = "REGULAR"
    system_machine_type: Text = "e2-standard-4"
    """Machine type of the always-on pool (KFP control plane)."""
    system_max_nodes: Count = Field(3, ge=1)
    pipeline_machine_type: Text = "e2-standard-8"
    """Machine type of the pipeline pool, which scales to zero between runs."""
    pipeline_max_nodes: Count = Field(5, ge=1)
    deletion_protection: bool = True
    security_group: Text | None = None
    """Google Group for RBAC (``gke-security-groups@DOMAIN``), when the organisation uses it."""
    admission: Admission = "enforced"
    """Binary Authorization's answer to an image without the CI attestation: ``enforced``
    refuses it; ``dry-run`` admits it and logs the refusal (dev only: images built by hand run,
    and the audit log shows what staging and prod would refuse)."""


class KubeflowIapConfig(Section):
    """Identity-Aware Proxy in front of the KFP UI and API."""

    oauth_client_id: Annotated[
        Text,
        _pattern(
            r"[0-9]+-[a-z0-9]+\.apps\.googleusercontent\.com",
            "expected an OAuth client id like 1234-abcd.apps.googleusercontent.com "
            "(create it in Google Auth Platform > Clients, type 'Web application')",
        ),
    ]
    """OAuth client IAP signs users in with; the audience of the kit's ID tokens. Created by hand:
    Google retired the API that created IAP's OAuth clients."""
    oauth_client_secret: Annotated[
        Text, _pattern(r"[A-Za-z0-9_-]{1,255}", "expected a Secret Manager secret id")
    ] = "kfp-iap-oauth-client-secret"  # noqa: S105 (a secret's id, not its value)
    """Secret Manager secret (in the stack's project) holding that client's secret."""
    access_group: Member | None = None
    """Who else may open the UI and call the API, e.g. ``group:ml-engineers@acme.com`` (the
    pipeline runner and the deployer always may)."""


class KubeflowConfig(Section):
    """Kubeflow Pipelines (standalone) on the cluster."""

    version: Annotated[
        Text,
        _pattern(
            "|".join(re.escape(v) for v in RELEASES),
            f"pin a release whose commit the kit knows: {', '.join(RELEASES)}",
        ),
    ] = "2.5.0"
    """Pinned KFP release whose manifests (at the release's commit) are applied."""
    database: KubeflowDatabase = "cloudsql"
    """``cloudsql`` (Cloud SQL for MySQL) or ``in-cluster`` (MySQL pod; development only)."""
    mysql_tier: Text = "db-custom-1-3840"
    dns_domain: Text
    """Private DNS zone of the environment; the UI/API is ``kfp.<dns_domain>`` (default
    ``<env>.mlops.internal``)."""
    iap: KubeflowIapConfig
    """Identity-Aware Proxy in front of the UI and API (nothing reaches them without it)."""


class KitRepositoryConfig(Section):
    """Who may install the kit from the environment's Python repository."""

    readers: tuple[Member, ...] = ()
    """Members besides the environment's own accounts, e.g. ``domain:acme.example`` or
    ``group:ml-engineers@acme.example`` (people installing the kit on their machines)."""
    public: bool = False
    """Let anyone read it (``allUsers``): the repository holds the kit's open-source wheels
    alone, and the pull-request jobs of generated projects, which get no cloud credentials,
    install the kit from it. The audit flags a public Python repository unless this is set."""


class VertexEndpointConfig(Section):
    """How clients reach the Vertex AI endpoint that serves the models (orchestrator ``vertex``)."""

    access: EndpointAccess
    """``private-service-connect``: reached only through a forwarding rule in an allowed project's
    VPC (the default outside dev); ``dedicated``: its own public DNS name, traffic isolated from
    other tenants' (the default in dev); ``public``: the shared regional API host (dev only)."""
    project_allowlist: tuple[ProjectId, ...] = ()
    """Projects besides the stack's own whose VPCs may connect to it (Private Service Connect)."""
    predict_host: PredictHost | None = None
    """Address of the forwarding rule clients send predictions to (Private Service Connect): set
    it once the rule exists, and ``mlops-kit env import`` puts it in the deploy URI."""

    @model_validator(mode="after")
    def _psc_settings_need_psc(self) -> Self:
        if self.access != "private-service-connect":
            for key, value in (
                ("projectAllowlist", self.project_allowlist),
                ("predictHost", self.predict_host),
            ):
                if value:
                    raise StackConfigError(
                        f"config key '{NAMESPACE}:vertexEndpoint.{key}' applies only to access "
                        f"'private-service-connect' (this endpoint is {self.access!r}): remove it"
                    )
        return self


class BudgetConfig(Section):
    """Monthly budget alert of the environment."""

    billing_account: Text
    amount: Amount = Field(ge=1.0)
    currency: Text = "EUR"
    thresholds: tuple[Threshold, ...] = Field((0.5, 0.9, 1.0), min_length=1)
    """Fractions of the budget between 0 and 2 (0.9 = 90 %)."""


_SECTIONS: Final = ("network", "warehouse", "modelStore", "metadataDb", "kitRepository", "budget")
_KUBEFLOW_SECTIONS: Final = ("cluster", "kubeflow")
_VERTEX_SECTIONS: Final = ("vertexEndpoint",)


class StackConfig(Section):
    """The whole configuration of one environment."""

    environment: str
    """The stack name (``dev``, ``staging``, ``prod``); also the ``env`` label."""
    project: ProjectId
    region: Annotated[Text, _pattern(r"[a-z]+-[a-z]+\d+", "expected e.g. europe-west1")]
    team: LabelValue
    cost_center: LabelValue
    orchestrator: Orchestrator = "kubeflow"
    name_prefix: Annotated[
        Text,
        _pattern(
            rf"[a-z][a-z0-9-]{{0,{MAX_NAME_PREFIX - 2}}}[a-z0-9]",
            f"service-account ids are '<namePrefix>{LONGEST_ACCOUNT_SUFFIX}' (at most 30 "
            f"characters): use 2-{MAX_NAME_PREFIX} lower-case letters, digits or '-'",
        ),
    ] = "mlops"
    """Prefix of every physical name (``mlops`` → ``mlops-dev-metadata``)."""
    key_rotation_days: Count = Field(90, ge=1, le=90)
    log_retention_days: Count = Field(400, ge=1)
    """Retention of the audit-log bucket (locked: it can only grow)."""
    network: NetworkConfig
    warehouse: WarehouseConfig
    model_store: ModelStoreConfig
    metadata_db: MetadataDbConfig
    kit_repository: KitRepositoryConfig
    budget: BudgetConfig
    cluster: ClusterConfig | None = None
    """Set when ``orchestrator`` is ``kubeflow``."""
    kubeflow: KubeflowConfig | None = None
    """Set when ``orchestrator`` is ``kubeflow``."""
    vertex_endpoint: VertexEndpointConfig | None = None
    """Set when ``orchestrator`` is ``vertex``."""
    vertex_model_registry: bool = False
    """Mirror READY model versions to the Vertex AI Model Registry."""
    cmek: bool = True
    """Encrypt data with customer-managed Cloud KMS keys (one per service and location)."""
    ci_repositories: tuple[Repository, ...] = ()
    """GitHub repositories (``org/repo``) whose Actions deploy as the deployer (federated, keyless)."""
    ci_ref: Annotated[
        Text, _pattern(r"refs/(heads|tags)/\S+", "expected a Git ref such as refs/heads/main")
    ] = "refs/heads/main"
    """The only Git ref whose workflows may deploy, unless ``ciGithubEnvironment`` is set."""
    ci_github_environment: (
        Annotated[
            Text,
            _pattern(r"[A-Za-z0-9_.-]{1,255}", "expected a GitHub environment name such as prod"),
        ]
        | None
    ) = None
    """The GitHub environment whose jobs may deploy (its protection rules decide who and which
    branches); replaces the ref check."""
    notification_emails: tuple[Text, ...] = ()
    """Who receives budget and security-change alerts."""
    extra_labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, alias="labels")

    @model_validator(mode="before")
    @classmethod
    def _sections(cls, data: Any, info: ValidationInfo) -> Any:
        """Omitted sections take their defaults; defaults that depend on other keys are filled."""
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        orchestrator = data.get("orchestrator", "kubeflow")
        sections: tuple[str, ...] = _SECTIONS
        if orchestrator == "vertex":
            _drop_sections(
                data, _KUBEFLOW_SECTIONS, "kubeflow", "vertex', which creates no cluster"
            )
            sections = (*_SECTIONS, *_VERTEX_SECTIONS)
        elif orchestrator == "kubeflow":
            _drop_sections(
                data, _VERTEX_SECTIONS, "vertex", "kubeflow', which serves on its cluster"
            )
            sections = (*_SECTIONS, *_KUBEFLOW_SECTIONS)
        for key in sections:
            if data.get(key) is None:
                data[key] = {}
        region = data.get("region")
        if isinstance(data["modelStore"], Mapping) and isinstance(region, str):
            data["modelStore"] = {"location": region.upper(), **data["modelStore"]}
        endpoint = data.get("vertexEndpoint")
        if isinstance(endpoint, Mapping):
            # Outside dev prediction traffic stays off the internet. In dev people and CI call the
            # endpoint from outside any VPC: a dedicated endpoint needs no forwarding rule, keeps
            # its traffic apart from other tenants' and already has its own DNS name, as PSC does.
            default = "dedicated" if data.get("environment") == "dev" else "private-service-connect"
            data["vertexEndpoint"] = {"access": default, **endpoint}
        kubeflow = data.get("kubeflow")
        if isinstance(kubeflow, Mapping):
            data["kubeflow"] = {
                "dnsDomain": f"{data.get('environment')}.mlops.internal",
                **kubeflow,
            }
        return data

    @model_validator(mode="after")
    def _groups_for_rbac_outside_dev(self) -> Self:
        # CIS GKE 5.8.2: outside dev, people get cluster access through Google Groups.
        if (
            self.cluster is not None
            and self.environment != "dev"
            and not self.cluster.security_group
        ):
            raise StackConfigError(
                f"config key '{NAMESPACE}:cluster.securityGroup' is missing in "
                f"{self.environment!r}: set the gke-security-groups@DOMAIN group (Google Groups "
                "for RBAC, CIS GKE 5.8.2); only dev may omit it"
            )
        return self

    @model_validator(mode="after")
    def _admission_enforced_outside_dev(self) -> Self:
        if (
            self.cluster is not None
            and self.cluster.admission != "enforced"
            and self.environment != "dev"
        ):
            raise StackConfigError(
                f"config key '{NAMESPACE}:cluster.admission' is {self.cluster.admission!r} in "
                f"{self.environment!r}: images without the CI attestation would run; only dev "
                "may use dry-run, set it to 'enforced'"
            )
        return self

    @model_validator(mode="after")
    def _private_endpoint_outside_dev(self) -> Self:
        endpoint = self.vertex_endpoint
        if (
            endpoint is not None
            and endpoint.access != "private-service-connect"
            and self.environment != "dev"
        ):
            raise StackConfigError(
                f"config key '{NAMESPACE}:vertexEndpoint.access' is {endpoint.access!r} in "
                f"{self.environment!r}: prediction traffic would reach the endpoint over the "
                "internet; only dev may use it, set it to 'private-service-connect'"
            )
        return self

    @model_validator(mode="after")
    def _force_destroy_only_in_dev(self) -> Self:
        if self.model_store.force_destroy and self.environment != "dev":
            raise StackConfigError(
                f"config key '{NAMESPACE}:modelStore.forceDestroy' is true in "
                f"{self.environment!r}: force_destroy would delete every model on "
                "`pulumi destroy`; it is only allowed in dev"
            )
        return self

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


def _drop_sections(data: dict[str, Any], keys: tuple[str, ...], owner: str, why: str) -> None:
    """Remove the empty sections ``keys`` of orchestrator ``owner``; refuse a filled one."""
    for key in keys:
        if data.get(key):
            raise StackConfigError(
                f"config key '{NAMESPACE}:{key}' applies only to orchestrator '{owner}' "
                f"(this stack uses '{why}): remove it"
            )
        data.pop(key, None)


def config_key(loc: tuple[int | str, ...]) -> str:
    """The stack-file key of a validation error's location (``mlops-kit:metadataDb.tier``)."""
    names = [part for part in loc if isinstance(part, str) and part != "[key]"]
    namespace = "gcp" if names and names[0] in GCP_KEYS else NAMESPACE
    return f"{namespace}:{'.'.join(names)}"


def error_line(error: ErrorDetails) -> str:
    """One line naming the key, the value and what to do, for one pydantic error."""
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, StackConfigError):
        return str(cause)
    key = config_key(error["loc"])
    if error["type"] == "missing":
        return f"config key {key!r} is missing: {FIX}"
    if error["type"] == "extra_forbidden":
        return f"unknown config key {key!r}: remove it or check its spelling"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] in ("tuple_type", "list_type"):
        message = "expected a list such as [a, b]"
    if error["type"] != "config":
        message = f"{message[:1].lower()}{message[1:]} ({FIX})"
    # An item of a list is named by its value: the key is the list.
    verb = "has" if isinstance(error["loc"][-1], int) else "is"
    return f"config key {key!r} {verb} {error['input']!r}: {message}"


def check_one_environment_per_project(
    environment: str, project: str, projects: Mapping[str, str]
) -> None:
    """Refuse a project that another environment's stack file uses too.

    Service-account ids and bucket names carry the prefix, not the environment, so two
    environments in one project would fight over the same accounts and buckets.

    Args:
        environment: the stack being deployed.
        project: its ``gcp:project``.
        projects: every stack's ``gcp:project`` by stack name (``environments/Pulumi.*.yaml``).
    """
    others = sorted(
        env for env, other in projects.items() if other == project and env != environment
    )
    if others:
        raise StackConfigError(
            f"config key 'gcp:project' is {project!r} in {environment!r} and in {others[0]!r}: "
            "account and bucket names do not carry the environment; give each environment its "
            "own project"
        )


def stack_projects(environments: Path) -> dict[str, str]:
    """``gcp:project`` of every stack file in ``environments`` (``Pulumi.<env>.yaml``)."""
    import yaml

    projects: dict[str, str] = {}
    for path in sorted(environments.glob("Pulumi.*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        project = (data.get("config") or {}).get("gcp:project")
        if isinstance(project, str):
            projects[path.name.removeprefix("Pulumi.").removesuffix(".yaml")] = project
    return projects


def parse_config(values: Mapping[str, Any], environment: str) -> StackConfig:
    """Build the typed configuration from the ``config:`` block of a stack file.

    Args:
        values: keys as in ``Pulumi.<env>.yaml`` (``gcp:project``, ``mlops-kit:network`` ...) with
            values already decoded (objects as mappings).
        environment: the stack name (``dev``, ``staging``, ``prod``).

    Raises:
        StackConfigError: a key is missing, unknown or invalid; the message names it.
    """
    if not re.fullmatch(r"[a-z0-9_-]{1,63}", environment):
        raise StackConfigError(
            f"stack name {environment!r} is also the 'env' label: use lower-case letters, "
            "digits, '-' or '_' (dev, staging, prod)"
        )
    ours = {
        key.removeprefix(f"{NAMESPACE}:"): value
        for key, value in values.items()
        if key.startswith(f"{NAMESPACE}:")
    }
    for reserved in ("environment", *GCP_KEYS):
        if reserved in ours:
            raise StackConfigError(
                f"unknown config key '{NAMESPACE}:{reserved}': remove it or check its spelling"
            )
    gcp = {
        key: values.get(f"gcp:{key}") for key in GCP_KEYS if values.get(f"gcp:{key}") is not None
    }
    try:
        return StackConfig.model_validate({**ours, **gcp, "environment": environment})
    except ValidationError as error:
        raise StackConfigError(error_line(error.errors()[0])) from None


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
