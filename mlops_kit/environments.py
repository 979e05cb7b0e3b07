"""Environments: the four role URIs (warehouse, artifacts, metadata, orchestrator) plus names.

An environment is resolved once, at the edge (the CLI or the first call of a library user), into a
frozen :class:`Environment`; library code receives it and never reads ``os.environ`` itself.

Every setting follows one precedence: explicit argument (a CLI flag) > environment variable >
environment file > default. The environment *name* follows the same rule: ``--env`` >
``MLOPS_KIT_ENV`` > ``env:`` in the project file ``mlops-kit.yaml`` > ``local``.

``local`` is the local twin, rooted in the project (``.mlops/`` unless configured): a DuckDB
warehouse, ``file://`` artifacts, SQLite metadata and the ``kfp-local`` orchestrator. Cloud
environments are files ``environments/<name>.yaml`` written by ``mlops-kit env import`` from the
outputs of the Pulumi stack of the same name.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import quote

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mlops_kit.backends import redact_uri
from mlops_kit.errors import ConfigError, NotFoundError, shorten
from mlops_kit.files import read_json, read_text

LOCAL: Final = "local"
ROLES: Final = ("warehouse", "artifacts", "metadata", "orchestrator")
Role = Literal["warehouse", "artifacts", "metadata", "orchestrator"]

PROJECT_FILE: Final = "mlops-kit.yaml"
# A Pulumi project marks the root of the kit's own repository (environments/ sits beside it).
PROJECT_MARKERS: Final = (PROJECT_FILE, "Pulumi.yaml")
ENV_VAR_NAME: Final = "MLOPS_KIT_ENV"
ENV_VAR_ENVIRONMENTS_DIR: Final = "MLOPS_KIT_ENVIRONMENTS_DIR"
ENV_VAR_LOCAL_ROOT: Final = "MLOPS_KIT_LOCAL_ROOT"

_HIDDEN: Final = "***"
"""What :func:`~mlops_kit.backends.redact_uri` writes in place of a secret."""
_NAME_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


def role_env_var(role: str) -> str:
    """The environment variable that overrides ``role`` (``MLOPS_KIT_METADATA`` ...)."""
    return f"MLOPS_KIT_{role.upper()}"


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid environment name.

    Raises:
        ConfigError: the name is not lower-case letters, digits, ``-`` or ``_`` (max 40).
    """
    if not _NAME_PATTERN.match(name):
        raise ConfigError(
            f"invalid environment name {name!r}: use 1-40 lower-case letters, digits, '-' or '_', "
            "starting with a letter"
        )
    return name


class Environment(BaseModel):
    """A resolved environment: where each role lives, and the cloud names behind it.

    The four role URIs select backends by scheme, each role's from its registry
    (:data:`mlops_kit.registries.REGISTRIES`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    """Environment name: ``local``, ``dev``, ``staging``, ``prod`` ..."""
    warehouse: str
    """Where dataset versions and prediction logs live."""
    artifacts: str
    """Where model artifacts live."""
    metadata: str
    """The metadata database (versions, lineage, aliases, history, monitoring runs)."""
    orchestrator: str
    """Where pipelines run."""
    project: str | None = None
    """Google Cloud project id."""
    region: str | None = None
    """Google Cloud region of the environment's resources."""
    dataset: str | None = None
    """BigQuery dataset holding versioned training data."""
    prediction_log_table: str | None = None
    """Fully qualified table that receives logged predictions (``project.dataset.table``)."""
    bucket: str | None = None
    """GCS bucket of the model store."""
    pipeline_root: str | None = None
    """Where pipeline runs keep their intermediate artifacts."""
    service_accounts: dict[str, str] = Field(default_factory=dict)
    """Service account email per workload (``pipeline_runner``, ``deployer``, ``serving``)."""
    registry_mirror: str | None = None
    """Where READY model versions are also copied (``vertex://PROJECT/LOCATION``); none if unset."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels the infrastructure applies (``env``, ``team``, ``cost-center``)."""
    max_bytes_per_query: int | None = Field(default=None, gt=0)
    """The most bytes one warehouse query may bill (BigQuery's ``maximum_bytes_billed``): a query
    that would scan more fails before it runs. None: no cap."""
    deploy: str = "local"
    """The deploy target (``local``: move the alias; every ``mlops-kit serve`` follows it)."""
    protected_aliases: list[str] = Field(default_factory=list)
    """Aliases a promotion moves only once someone other than the requester approves it."""
    image_repository: str | None = None
    """Docker repository of the projects' images (``REGION-docker.pkg.dev/PROJECT/REPOSITORY``)."""
    kit_index: str | None = None
    """Simple index (``https://.../simple/``) of the Python repository serving the kit's wheel:
    projects install mlops-kit from there alone, never by its bare name from the public index."""
    attestor: str | None = None
    """Binary Authorization attestor whose attestation the cluster requires of an image
    (``projects/PROJECT/attestors/NAME``)."""
    attestor_key: str | None = None
    """The KMS key version that signs the attestor's attestations
    (``projects/.../cryptoKeys/NAME/cryptoKeyVersions/N``)."""

    # Not a setting (never written to a file or a run parameter): where the local twin lives when
    # this environment was resolved as the local twin, so that its folder is made on first use.
    _local_root: Path | None = PrivateAttr(default=None)

    def create_local_root(self) -> None:
        """Create the local twin's root folder, when this environment is the local twin.

        The local twin works with no setup, its folder included; any other folder named by a URL
        must exist (a typo is not a new, empty database).

        Raises:
            ConfigError: the folder cannot be created.
        """
        if self._local_root is None:
            return
        try:
            self._local_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the local twin's root {shorten(str(self._local_root))!r}: "
                f"{exc.strerror or exc}; point {ENV_VAR_LOCAL_ROOT} (or local_root in "
                f"{PROJECT_FILE}) at a writable folder"
            ) from exc

    @model_validator(mode="before")
    @classmethod
    def _read_vertex_model_registry(cls, values: Any) -> Any:
        # Files written before registry_mirror said `vertex_model_registry: true`, which meant
        # vertex://PROJECT/REGION; they keep working without an edit.
        if not isinstance(values, Mapping) or "vertex_model_registry" not in values:
            return values
        values = dict(values)
        if values.pop("vertex_model_registry") and not values.get("registry_mirror"):
            if not (values.get("project") and values.get("region")):
                raise ValueError(
                    "vertex_model_registry is replaced by registry_mirror: write "
                    "'registry_mirror: vertex://PROJECT/LOCATION' instead"
                )
            values["registry_mirror"] = f"vertex://{values['project']}/{values['region']}"
        return values

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return check_name(value)

    @field_validator(*ROLES)
    @classmethod
    def _valid_uri(cls, value: str, info: ValidationInfo) -> str:
        from mlops_kit.registries import REGISTRIES

        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        if "://" not in value and not REGISTRIES[str(info.field_name)].is_bare_word(value):
            raise ValueError(f"{value!r} is not a URI (expected 'scheme://...')")
        return value

    @field_validator("kit_index")
    @classmethod
    def _valid_kit_index(cls, value: str | None) -> str | None:
        if value is not None and not (
            value.startswith(("https://", "http://")) and value.endswith("/simple/")
        ):
            raise ValueError(
                f"{value!r} is not a package index: write 'https://HOST/PATH/simple/' "
                "(an Artifact Registry Python repository's simple API)"
            )
        return value

    @field_validator("registry_mirror")
    @classmethod
    def _valid_mirror(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError(f"{value!r} is not a URI (expected 'vertex://PROJECT/LOCATION')")
        return value

    @property
    def is_local(self) -> bool:
        """True when every role is served on this machine (the local twin or a variant of it).

        Raises:
            UnknownSchemeError: a URI has a scheme no backend serves.
        """
        from mlops_kit.registries import REGISTRIES

        return all(
            REGISTRIES[role].resolve(uri).runs_here for role, uri in self.role_uris().items()
        )

    @property
    def log_dataset(self) -> str | None:
        """``PROJECT.DATASET`` of the provisioned log tables (from :attr:`prediction_log_table`)."""
        if not self.prediction_log_table:
            return None
        return self.prediction_log_table.rsplit(".", 1)[0]

    def role_uris(self) -> dict[str, str]:
        """The four role URIs by role name."""
        return {role: str(getattr(self, role)) for role in ROLES}

    def redacted(self) -> dict[str, Any]:
        """This environment as plain data with passwords and tokens hidden, for display."""
        data = self.model_dump(mode="json")
        for role in ROLES:
            data[role] = redact_uri(data[role])
        return data

    def run_parameter(self) -> str:
        """This environment as a pipeline run parameter: JSON with passwords and tokens hidden.

        Orchestrators store run parameters in their run records (Kubeflow's database, Vertex AI's
        pipeline jobs), readable by whoever lists runs: a secret never goes there. A step reads the
        parameter back with :meth:`from_run_parameter`.
        """
        return json.dumps(self.redacted(), sort_keys=True)

    @classmethod
    def from_run_parameter(cls, text: str, environ: Mapping[str, str] | None = None) -> Environment:
        """The environment a pipeline step runs in, from :meth:`run_parameter`.

        A role URI whose secret was hidden is taken whole from the step's own environment
        variable (``MLOPS_KIT_METADATA`` ...), where the deployment puts secrets.

        Raises:
            ConfigError: a hidden secret has no variable in the step's environment.
        """
        environ = os.environ if environ is None else environ
        values = json.loads(text)
        for role in ROLES:
            if _HIDDEN not in values[role]:
                continue
            variable = role_env_var(role)
            if not environ.get(variable):
                raise ConfigError(
                    f"the {role} URI of environment {values['name']!r} carries a secret that run "
                    f"parameters never hold: set {variable} in the pipeline step's environment"
                )
            values[role] = environ[variable]
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(f"environment {values['name']!r}: {_first_problem(exc)}") from exc


class ProjectConfig(BaseModel):
    """The optional project file ``mlops-kit.yaml``."""

    model_config = ConfigDict(extra="forbid")

    env: str | None = None
    """Default environment of this project."""
    local_root: str = ".mlops"
    """Root of the local twin, relative to the project directory."""
    environments_dir: str = "environments"
    """Directory of environment files, relative to the project directory."""


class Workspace(BaseModel):
    """Where a project lives: its root, its project file and its environment files."""

    model_config = ConfigDict(frozen=True)

    root: Path
    config: ProjectConfig
    environments_dir: Path
    local_root: Path

    @classmethod
    def discover(
        cls, start: Path | None = None, environ: Mapping[str, str] | None = None
    ) -> Workspace:
        """Find the project around ``start`` (default: the current directory).

        The root is the nearest directory holding ``mlops-kit.yaml`` or ``Pulumi.yaml``; without one,
        ``start`` itself.
        """
        environ = os.environ if environ is None else environ
        here = (start or Path.cwd()).resolve()
        root = next(
            (d for d in (here, *here.parents) if any((d / m).is_file() for m in PROJECT_MARKERS)),
            here,
        )
        config = _read_project_file(root / PROJECT_FILE)
        environments_dir = Path(
            environ.get(ENV_VAR_ENVIRONMENTS_DIR) or root / config.environments_dir
        )
        local_root = Path(environ.get(ENV_VAR_LOCAL_ROOT) or root / config.local_root)
        if local_root.exists() and not local_root.is_dir():
            raise ConfigError(
                f"the local twin's root {shorten(str(local_root))!r} is a file, not a folder: "
                f"point {ENV_VAR_LOCAL_ROOT} (or local_root in {PROJECT_FILE}) at a folder"
            )
        return cls(
            root=root,
            config=config,
            environments_dir=environments_dir.resolve(),
            local_root=local_root.resolve(),
        )

    def environment_file(self, name: str) -> Path:
        """The file that describes environment ``name``."""
        return self.environments_dir / f"{check_name(name)}.yaml"

    def environment_names(self) -> list[str]:
        """``local`` plus every environment described by a file, sorted."""
        names = {LOCAL}
        if self.environments_dir.is_dir():
            for path in self.environments_dir.glob("*.yaml"):
                if _NAME_PATTERN.match(path.stem):
                    names.add(path.stem)
        return sorted(names)

    def local_defaults(self) -> dict[str, str]:
        """The role URIs of the local twin rooted at :attr:`local_root`."""
        root = self.local_root
        return {
            "warehouse": f"duckdb://{quote(str(root / 'warehouse.duckdb'))}",
            "artifacts": (root / "artifacts").as_uri(),
            "metadata": f"sqlite:///{root / 'metadata.db'}",
            "orchestrator": "kfp-local",
        }

    def selected_name(self, name: str | None, environ: Mapping[str, str] | None = None) -> str:
        """The environment name by precedence: argument > ``MLOPS_KIT_ENV`` > project file > local."""
        environ = os.environ if environ is None else environ
        chosen = name or environ.get(ENV_VAR_NAME) or self.config.env or LOCAL
        return check_name(chosen)


def _read_yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    text = read_text(path, what)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{what} {path} is not valid YAML{where}: fix or delete it") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold a mapping of keys to values")
    return data


def _read_project_file(path: Path) -> ProjectConfig:
    if not path.is_file():
        return ProjectConfig()
    data = _read_yaml_mapping(path, "project file")
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"project file {path}: {_first_problem(exc)}") from exc


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"]) or "value"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key; remove it or check its spelling"
    return f"{location}: {message}"


def resolve_environment(
    name: str | None = None,
    *,
    overrides: Mapping[str, str | None] | None = None,
    workspace: Workspace | None = None,
    environ: Mapping[str, str] | None = None,
) -> Environment:
    """Resolve the environment to use.

    Args:
        name: the environment name given explicitly (``--env``); ``None`` falls back to
            ``MLOPS_KIT_ENV``, then the project file, then ``local``.
        overrides: role URIs given explicitly (CLI flags); ``None`` values are ignored.
        workspace: the project to resolve in; discovered from the current directory by default.
        environ: the process environment (tests pass their own).

    Returns:
        The frozen, validated environment.

    Raises:
        NotFoundError: a non-local environment has no file.
        ConfigError: the file is unreadable or invalid, or a URI is malformed or of an unknown scheme.
    """
    environ = os.environ if environ is None else environ
    workspace = workspace or Workspace.discover(environ=environ)
    chosen = workspace.selected_name(name, environ)
    path = workspace.environment_file(chosen)

    values: dict[str, Any] = {}
    if chosen == LOCAL:
        values.update(workspace.local_defaults())
    if path.exists():
        values.update(_read_yaml_mapping(path, "environment file"))
    elif chosen != LOCAL:
        known = ", ".join(workspace.environment_names())
        raise NotFoundError(
            f"unknown environment {chosen!r}: no file {path}; known: {known} "
            f"(create it with `mlops-kit env import {chosen} --from outputs.json`)"
        )
    values.setdefault("name", chosen)
    for role in ROLES:
        from_env = environ.get(role_env_var(role))
        if from_env:
            values[role] = from_env
    values.update(_given_uris(overrides or {}))

    missing = [role for role in ROLES if not values.get(role)]
    if missing:
        raise ConfigError(
            f"environment {chosen!r} ({path}) does not set {', '.join(missing)}: "
            "re-import it with `mlops-kit env import` or add the keys"
        )
    try:
        environment = Environment.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(f"environment {chosen!r} ({path}): {_first_problem(exc)}") from exc
    check_backends(environment)
    if chosen == LOCAL:
        environment._local_root = workspace.local_root
    return environment


def _given_uris(overrides: Mapping[str, str | None]) -> dict[str, str]:
    """The role URIs given explicitly (``None``: not given).

    Raises:
        ConfigError: one is empty: a mistake (an unset shell variable), not a request for the
            default.
    """
    for role, uri in overrides.items():
        if uri is not None and not uri.strip():
            raise ConfigError(
                f"the {role} URI given (--{role}) is empty: give a URI or leave it out"
            )
    return {role: uri for role, uri in overrides.items() if uri}


def check_backends(environment: Environment) -> None:
    """Check that a backend is known for every role URI of ``environment`` (nothing is imported).

    Raises:
        UnknownSchemeError: a URI has a scheme no backend serves; the message lists the known ones.
    """
    from mlops_kit.registries import REGISTRIES

    for role, uri in environment.role_uris().items():
        REGISTRIES[role].check(uri)
    if environment.registry_mirror:
        REGISTRIES["registry_mirror"].check(environment.registry_mirror)


class StackOutputs(BaseModel):
    """What a Pulumi stack of the kit exports (``pulumi stack output --json``).

    The infrastructure program exports exactly these names; ``mlops-kit env import`` turns them into
    an environment file. Keys the kit does not know are ignored, so newer stacks stay importable.
    """

    model_config = ConfigDict(extra="ignore")

    environment: str
    """Stack name: ``dev``, ``staging`` or ``prod``."""
    project: str
    """Google Cloud project id of the stack."""
    region: str
    """Region of the stack's regional resources."""
    warehouse_dataset: str
    """BigQuery dataset id of versioned training data."""
    prediction_log_table: str
    """Fully qualified prediction-log table."""
    model_bucket: str
    """Name of the GCS bucket of the model store."""
    model_store_prefix: str = "models"
    """Object prefix under which the kit writes artifacts."""
    pipeline_root: str
    """``gs://`` prefix where pipeline runs write their artifacts."""
    metadata_instance_connection_name: str
    """Cloud SQL instance connection name ``project:region:instance``."""
    metadata_database: str
    """Name of the metadata database on the Cloud SQL instance."""
    metadata_iam_user: str
    """Cloud SQL IAM database user of the pipeline-runner service account."""
    orchestrator: Literal["kubeflow", "vertex"]
    """Where the stack runs pipelines."""
    kfp_host: str | None = None
    """Kubeflow Pipelines API endpoint (private); set when ``orchestrator`` is ``kubeflow``."""
    kfp_audience: str | None = None
    """OAuth client id of the Identity-Aware Proxy in front of KFP: the audience of the ID token."""
    vertex_location: str | None = None
    """Vertex AI region; set when ``orchestrator`` is ``vertex``."""
    vertex_model_registry: bool = False
    """Whether registered versions are mirrored to the Vertex AI Model Registry."""
    service_accounts: dict[str, str] = Field(default_factory=dict)
    """Workload (``pipeline_runner``, ``deployer``, ``serving`` …) → service-account email."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels the stack puts on its resources (cost attribution)."""
    image_repository: str | None = None
    """Artifact Registry Docker repository of the projects' images."""
    kit_index: str | None = None
    """Simple index of the Python repository serving the kit's wheel."""
    attestor: str | None = None
    """Binary Authorization attestor the cluster requires."""
    attestor_key: str | None = None
    """KMS key version signing the attestor's attestations."""
    serving_cluster: str | None = None
    """The GKE cluster whose serving namespace the deploy target rolls model servers out in."""
    serving_namespace: str | None = None
    """Kubernetes namespace of the model servers on the serving cluster."""
    serving_kubernetes_account: str | None = None
    """Kubernetes service account of the server pods (bound to the ``serving`` Google account)."""
    serving_url: str | None = None
    """``http://ADDRESS`` of the serving Gateway on its reserved internal address: clients in the
    VPC reach an alias at ``http://ADDRESS/<alias name>/predict``."""
    vertex_endpoint: str | None = None
    """Numeric id of the Vertex AI endpoint that serves the models (an environment without a
    cluster); the deploy target deploys to it."""
    vertex_endpoint_access: Literal["public", "dedicated", "private-service-connect"] | None = None
    """How clients reach the endpoint: the shared regional API host, its dedicated DNS name, or a
    Private Service Connect forwarding rule."""
    vertex_predict_host: str | None = None
    """Where predictions go instead of the regional API host: the dedicated DNS name, or the PSC
    forwarding rule's address (none until the stack's ``vertexEndpoint.predictHost`` names it)."""

    def deploy_target(self) -> str:
        """The deploy URI: the Vertex AI endpoint, the cluster's serving namespace, or ``local``."""
        if self.vertex_endpoint:
            location = self.vertex_location or self.region
            uri = f"vertex-endpoint://{self.project}/{location}/{self.vertex_endpoint}"
            if self.vertex_predict_host:
                uri += f"?predict_host={quote(self.vertex_predict_host, safe='')}"
            return uri
        if not (self.serving_cluster and self.serving_namespace):
            return "local"
        uri = f"gke://{self.project}/{self.region}/{self.serving_cluster}/{self.serving_namespace}"
        query = {"service_account": self.serving_kubernetes_account, "url": self.serving_url}
        parameters = [f"{key}={quote(value, safe=':/')}" for key, value in query.items() if value]
        return f"{uri}?{'&'.join(parameters)}" if parameters else uri

    def to_environment(self, name: str) -> Environment:
        """The kit environment these outputs describe."""
        if self.orchestrator == "kubeflow":
            if not self.kfp_host:
                raise ConfigError("stack outputs set orchestrator 'kubeflow' but no 'kfp_host'")
            scheme, separator, rest = self.kfp_host.partition("://")
            orchestrator = f"kfp+{scheme}://{rest}" if separator else f"kfp+https://{rest}"
            if self.kfp_audience:
                orchestrator += f"?audience={quote(self.kfp_audience, safe='.-')}"
        else:
            location = self.vertex_location or self.region
            orchestrator = f"vertex://{self.project}/{location}"
        instance = self.metadata_instance_connection_name
        return Environment(
            name=name,
            warehouse=f"bigquery://{self.project}/{self.warehouse_dataset}",
            artifacts=f"gs://{self.model_bucket}/{self.model_store_prefix.strip('/')}",
            metadata=(
                f"cloudsql://{instance}/{self.metadata_database}"
                f"?iam_user={quote(self.metadata_iam_user, safe='@.')}"
            ),
            orchestrator=orchestrator,
            project=self.project,
            region=self.region,
            dataset=self.warehouse_dataset,
            prediction_log_table=self.prediction_log_table,
            bucket=self.model_bucket,
            pipeline_root=self.pipeline_root,
            service_accounts=dict(self.service_accounts),
            registry_mirror=(
                f"vertex://{self.project}/{self.region}" if self.vertex_model_registry else None
            ),
            labels=dict(self.labels),
            image_repository=self.image_repository,
            kit_index=self.kit_index,
            attestor=self.attestor,
            attestor_key=self.attestor_key,
            deploy=self.deploy_target(),
        )


def read_stack_outputs(path: Path) -> StackOutputs:
    """Read the JSON that ``pulumi stack output --json`` prints.

    Raises:
        ConfigError: the file is unreadable, not JSON, or lacks a required output.
    """
    data = read_json(
        path, "stack outputs file", "save them with `pulumi stack output --json > outputs.json`"
    )
    if not isinstance(data, dict):
        raise ConfigError(f"stack outputs {path} must be a JSON object of output names to values")
    try:
        return StackOutputs.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            f"stack outputs {path}: {_first_problem(exc)} "
            "(is this the output of a mlops-kit stack?)"
        ) from exc


def import_environment(name: str, outputs_path: Path, workspace: Workspace) -> Path:
    """Write (or update) ``environments/<name>.yaml`` from a stack-outputs JSON file.

    Returns:
        The path written.
    """
    check_name(name)
    if name == LOCAL:
        raise ConfigError("'local' is the local twin and cannot be imported: choose another name")
    try:
        environment = read_stack_outputs(outputs_path).to_environment(name)
    except ValidationError as exc:
        raise ConfigError(f"stack outputs {outputs_path}: {_first_problem(exc)}") from exc
    check_backends(environment)
    path = workspace.environment_file(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Environment {name!r} of mlops-kit, from the outputs of Pulumi stack {name!r}.\n"
        f"# Regenerate with: mlops-kit env import {name} --from outputs.json\n"
    )
    body = yaml.safe_dump(environment.model_dump(mode="json"), sort_keys=False)
    temporary = path.with_suffix(".yaml.tmp")
    temporary.write_text(header + body, encoding="utf-8")
    temporary.replace(path)
    return path
