"""Evaluate the program offline under ``pulumi.runtime.set_mocks``: no CLI, credentials or network.

The mocks record every resource the program declares (type, name, inputs as the engine sees them:
camelCase, numbers as floats) and answer with plausible computed outputs (emails, connection names,
self links), so the stack outputs resolve exactly as ``pulumi stack output --json`` would print them.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.config import (
    check_one_environment_per_project,
    decode_config_value,
    parse_config,
    stack_projects,
)
from infra.order import DependencyGraph, Key, Node
from infra.policies.controls import Resource
from infra.policies.controls.resources import leaves

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MOCK_PROJECT_NUMBER = "123456789012"
# The engine's marker of a secret value, as the mocks receive it (a constant, not a secret).
SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105


@dataclass
class Evaluation:
    """What one environment's program declared and exported."""

    environment: str
    resources: list[Resource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    graph: DependencyGraph = field(default_factory=DependencyGraph)
    """What each resource waits for before the engine creates it."""


class UnknownEnvironmentError(LookupError):
    """No ``environments/Pulumi.<env>.yaml`` exists for the requested environment."""


def stack_file(environment: str, root: Path = PROJECT_ROOT) -> Path:
    """The stack configuration file of ``environment``."""
    return root / "environments" / f"Pulumi.{environment}.yaml"


def known_environments(root: Path = PROJECT_ROOT) -> list[str]:
    """Environments that have a stack file, sorted."""
    return sorted(
        p.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for p in (root / "environments").glob("Pulumi.*.yaml")
    )


def read_stack_config(environment: str, root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The ``config:`` block of the environment's stack file (secure values stay opaque)."""
    path = stack_file(environment, root)
    if not path.is_file():
        known = ", ".join(known_environments(root)) or "none"
        raise UnknownEnvironmentError(
            f"unknown environment {environment!r}: no {path}; known: {known}"
        )
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    config = data.get("config") or {}
    return {
        key: "[secret]" if isinstance(value, Mapping) and "secure" in value else value
        for key, value in config.items()
    }


@dataclass(frozen=True)
class _Declared:
    """A resource as the mocks receive it, with the project and region it lands in."""

    type: str
    name: str
    inputs: dict[str, Any]
    project: str
    region: str

    @property
    def physical(self) -> str:
        return str(self.inputs.get("name") or self.name)

    def located(self, key: str = "location") -> str:
        return str(self.inputs.get(key) or self.region)


# Service agents whose address does not follow service-N@gcp-sa-SERVICE.
SERVICE_AGENT_DOMAINS: dict[str, str] = {
    "sqladmin": "gcp-sa-cloud-sql",
    "container": "container-engine-robot",
    "compute": "compute-system",
}
# Google's lookups of a service agent (calling them creates the agent), and what they return.
AGENT_LOOKUPS: dict[str, tuple[str, str]] = {
    "gcp:bigquery/getDefaultServiceAccount:getDefaultServiceAccount": (
        "email",
        "bq-{number}@bigquery-encryption.iam.gserviceaccount.com",
    ),
    "gcp:storage/getProjectServiceAccount:getProjectServiceAccount": (
        "emailAddress",
        "service-{number}@gs-project-accounts.iam.gserviceaccount.com",
    ),
}


# What the cloud computes, per resource type: (id or None for the default, extra outputs).
_Computed = tuple[str | None, dict[str, Any]]


def _service_account(r: _Declared) -> _Computed:
    email = f"{r.inputs['accountId']}@{r.project}.iam.gserviceaccount.com"
    name = f"projects/{r.project}/serviceAccounts/{email}"
    return name, {"email": email, "name": name, "member": f"serviceAccount:{email}"}


def _sql_instance(r: _Declared) -> _Computed:
    connection = f"{r.project}:{r.located('region')}:{r.physical}"
    return None, {"connectionName": connection, "privateIpAddress": "10.99.0.3"}


def _bucket(r: _Declared) -> _Computed:
    return None, {
        "url": f"gs://{r.physical}",
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{r.physical}",
    }


def _self_linked(path: str) -> Callable[[_Declared], _Computed]:
    def compute(r: _Declared) -> _Computed:
        rid = path.format(r=r)
        return rid, {"selfLink": f"https://www.googleapis.com/compute/v1/{rid}"}

    return compute


def _cluster(r: _Declared) -> _Computed:
    rid = f"projects/{r.project}/locations/{r.located()}/clusters/{r.physical}"
    return rid, {"endpoint": "172.16.0.2", "masterAuth": {"clusterCaCertificate": "Q0EtQ0VSVA=="}}


def _key_ring(r: _Declared) -> _Computed:
    return f"projects/{r.project}/locations/{r.located()}/keyRings/{r.physical}", {}


def _crypto_key(r: _Declared) -> _Computed:
    return f"{r.inputs['keyRing']}/cryptoKeys/{r.physical}", {}


def _attestor(r: _Declared) -> _Computed:
    return f"projects/{r.project}/attestors/{r.physical}", {}


def _note(r: _Declared) -> _Computed:
    return f"projects/{r.project}/notes/{r.physical}", {}


def _key_version(crypto_key: str, version: int) -> dict[str, Any]:
    """What Cloud KMS returns for a version of an asymmetric key (a placeholder public key)."""
    name = f"{crypto_key}/cryptoKeyVersions/{version}"
    return {
        "id": f"//cloudkms.googleapis.com/v1/{name}",
        "name": name,
        "cryptoKey": crypto_key,
        "version": version,
        "algorithm": "EC_SIGN_P256_SHA256",
        "protectionLevel": "HSM",
        "state": "ENABLED",
        "publicKeys": [
            {
                "algorithm": "EC_SIGN_P256_SHA256",
                "pem": "-----BEGIN PUBLIC KEY-----\nMOCK\n-----END PUBLIC KEY-----\n",
            }
        ],
    }


def _sink(r: _Declared) -> _Computed:
    agent = f"service-{MOCK_PROJECT_NUMBER}@gcp-sa-logging.iam.gserviceaccount.com"
    return None, {"writerIdentity": f"serviceAccount:{agent}"}


def _service_identity(r: _Declared) -> _Computed:
    service = str(r.inputs.get("service", "")).split(".")[0]
    agent = SERVICE_AGENT_DOMAINS.get(service, f"gcp-sa-{service}")
    return None, {"email": f"service-{MOCK_PROJECT_NUMBER}@{agent}.iam.gserviceaccount.com"}


def _vertex_endpoint(r: _Declared) -> _Computed:
    # Vertex AI numbers endpoints (at most 10 digits, no leading zero).
    number = str(1_000_000_000 + zlib.crc32(r.name.encode()) % 9_000_000_000)
    outputs = {"name": number}
    if r.inputs.get("dedicatedEndpointEnabled"):
        # As the Vertex AI API returns it: without the https:// its reference shows.
        outputs["dedicatedEndpointDns"] = (
            f"{number}.{r.located()}-{MOCK_PROJECT_NUMBER}.prediction.vertexai.goog"
        )
    return f"projects/{r.project}/locations/{r.located()}/endpoints/{number}", outputs


def _notification_channel(r: _Declared) -> _Computed:
    return f"projects/{r.project}/notificationChannels/{r.name}", {}


def _budget(r: _Declared) -> _Computed:
    return None, {"name": f"billingAccounts/{r.inputs.get('billingAccount')}/budgets/{r.name}"}


_COMPUTED: dict[str, Callable[[_Declared], _Computed]] = {
    "gcp:serviceaccount/account:Account": _service_account,
    "gcp:sql/databaseInstance:DatabaseInstance": _sql_instance,
    "gcp:storage/bucket:Bucket": _bucket,
    "gcp:compute/network:Network": _self_linked(
        "projects/{r.project}/global/networks/{r.physical}"
    ),
    "gcp:compute/subnetwork:Subnetwork": _self_linked(
        "projects/{r.project}/regions/{r.region}/subnetworks/{r.physical}"
    ),
    "gcp:container/cluster:Cluster": _cluster,
    "gcp:kms/keyRing:KeyRing": _key_ring,
    "gcp:kms/cryptoKey:CryptoKey": _crypto_key,
    "gcp:binaryauthorization/attestor:Attestor": _attestor,
    "gcp:containeranalysis/note:Note": _note,
    "gcp:projects/iAMCustomRole:IAMCustomRole": lambda r: (
        f"projects/{r.project}/roles/{r.inputs['roleId']}",
        {"name": f"projects/{r.project}/roles/{r.inputs['roleId']}"},
    ),
    "gcp:logging/projectSink:ProjectSink": _sink,
    "gcp:projects/serviceIdentity:ServiceIdentity": _service_identity,
    "gcp:compute/address:Address": lambda r: (None, {"address": "10.99.1.10"}),
    "gcp:monitoring/notificationChannel:NotificationChannel": _notification_channel,
    "gcp:billing/budget:Budget": _budget,
    "gcp:vertex/aiEndpoint:AiEndpoint": _vertex_endpoint,
    "random:index/randomPassword:RandomPassword": lambda r: (None, {"result": "generated"}),
}


def _mock_outputs(
    type_: str, name: str, inputs: dict[str, Any], project: str, region: str
) -> tuple[str, dict[str, Any]]:
    """A plausible (id, outputs) for a resource: the inputs plus what the cloud would compute."""
    declared = _Declared(
        type_,
        name,
        inputs,
        str(inputs.get("project") or project),
        str(inputs.get("region") or region),
    )
    compute = _COMPUTED.get(type_)
    rid, computed = compute(declared) if compute is not None else (None, {})
    return rid or f"{name}-id", {**inputs, **computed}


def redact(value: Any) -> Any:
    """``value`` with every secret replaced by ``"[secret]"``."""
    if isinstance(value, Mapping):
        if value.get("4dabf18193072939515e22adb298388d") == SECRET_SIGNATURE:
            return "[secret]"
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def evaluate(
    environment: str, root: Path = PROJECT_ROOT, config: Mapping[str, Any] | None = None
) -> Evaluation:
    """Run the program of ``environment`` under mocks and return what it declared and exported.

    Args:
        environment: stack name; its config is read from ``environments/Pulumi.<env>.yaml``.
        root: the Pulumi project directory.
        config: a ``config:`` block to use instead of the stack file (tests of other shapes).

    Raises:
        UnknownEnvironmentError: no stack file for ``environment``.
        StackConfigError: the configuration is invalid (the message names the key).
    """
    import pulumi
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime.settings import ROOT, SETTINGS
    from pulumi.runtime.stack import register_stack_transformation, run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from infra.config import load_config
    from infra.program import program

    values = dict(config) if config is not None else read_stack_config(environment, root)
    # Fail on bad config before Pulumi starts: the error names the key.
    parsed = parse_config({k: decode_config_value(v) for k, v in values.items()}, environment)
    check_one_environment_per_project(
        environment, parsed.project, stack_projects(root / "environments")
    )
    project = str(values.get("gcp:project", "project"))
    region = str(values.get("gcp:region", "us-central1"))
    result = Evaluation(environment)
    recorder = _OrderRecorder(result.graph)

    class RecordingMocks(pulumi.runtime.Mocks):
        def new_resource(
            self, args: pulumi.runtime.MockResourceArgs
        ) -> tuple[str | None, dict[str, Any]]:
            inputs = dict(args.inputs)
            rid, outputs = _mock_outputs(args.typ, args.name, inputs, project, region)
            result.resources.append(Resource(type=args.typ, name=args.name, props=redact(inputs)))
            recorder.created[(args.typ, args.name)] = (redact(inputs), outputs)
            return rid, outputs

        def call(
            self, args: pulumi.runtime.MockCallArgs
        ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
            if args.token == "gcp:organizations/getProject:getProject":  # noqa: S105
                return {"number": MOCK_PROJECT_NUMBER, "projectId": project}, []
            if args.token == "gcp:secretmanager/getSecretVersion:getSecretVersion":  # noqa: S105
                return {"secretData": "mock-secret-value", "secret": args.args.get("secret")}, []
            if args.token in AGENT_LOOKUPS:
                field_name, template = AGENT_LOOKUPS[args.token]
                email = template.format(number=MOCK_PROJECT_NUMBER)
                result.graph.looked_up_agents.add(email)
                return {field_name: email, "member": f"serviceAccount:{email}"}, []
            if args.token == "gcp:kms/getKMSCryptoKeyVersion:getKMSCryptoKeyVersion":  # noqa: S105
                key = args.args
                return _key_version(str(key["cryptoKey"]), int(key.get("version") or 1)), []
            return {}, []

    pulumi.runtime.set_all_config(
        {
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in values.items()
        }
    )
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    # A root stack of its own: the order recorder registered on it sees this program only.
    ROOT.set(None)
    pulumi_mocks.set_mocks(RecordingMocks(), project="mlops-kit", stack=environment, preview=False)

    def body() -> None:
        register_stack_transformation(recorder.transform)
        outputs = program(load_config())
        resolved: dict[str, Any] | None = _sync_await(pulumi.Output.from_input(outputs).future())
        result.outputs = resolved or {}
        _sync_await(recorder.resolve())

    _sync_await(run_pulumi_func(body))
    recorder.record_inputs()
    result.resources.extend(_kustomized_objects(result.resources))
    return result


KUSTOMIZE_DIRECTORY = "kubernetes:kustomize/v2:Directory"


def _kustomized_objects(resources: Sequence[Resource]) -> list[Resource]:
    """The objects each kustomize overlay applies, as the engine would register them.

    In a real preview they are the Directory's children, which the policy pack sees; offline
    they come from the vendored manifests of the pinned commit (``infra.kubeflow_inventory``).
    """
    from infra.kubeflow_inventory import directory_objects, resource_type

    found = []
    for directory in (r for r in resources if r.type == KUSTOMIZE_DIRECTORY):
        for manifest in directory_objects(Path(str(directory.props["directory"]))):
            metadata = manifest.get("metadata") or {}
            name = "/".join(filter(None, (metadata.get("namespace"), metadata.get("name"))))
            found.append(Resource(resource_type(manifest), f"{directory.name}:{name}", manifest))
    return found


class _OrderRecorder:
    """Records each resource's dependencies as the engine would see them (a stack transformation)."""

    def __init__(self, graph: DependencyGraph) -> None:
        self.graph = graph
        self.created: dict[Key, tuple[Mapping[str, Any], Mapping[str, Any]]] = {}
        self._keys: dict[int, Key] = {}
        self._pending: list[tuple[Node, Any, list[Any], list[Any]]] = []

    def transform(self, args: Any) -> None:
        """The stack transformation: note the resource, its options and the outputs among its inputs."""
        import pulumi

        node = Node(args.type_, args.name, custom=isinstance(args.resource, pulumi.CustomResource))
        self._keys[id(args.resource)] = node.key
        opts = args.opts
        dependencies = list(_flat(opts.depends_on))
        if opts.provider is not None:
            dependencies.append(opts.provider)
        self._pending.append((node, opts.parent, dependencies, list(_outputs_in(args.props))))
        self.graph.nodes[node.key] = node

    async def resolve(self) -> None:
        """Turn the noted options and outputs into edges, once every output knows its resources."""
        import pulumi

        for node, parent, dependencies, outputs in self._pending:
            node.parent = self._keys.get(id(parent)) if parent is not None else None
            if isinstance(parent, pulumi.CustomResource) and node.parent is not None:
                node.depends_on.add(node.parent)  # a custom parent is registered (created) first
            for output in outputs:
                dependencies.extend(await output.resources())
            for dependency in dependencies:
                if isinstance(dependency, pulumi.Resource) and id(dependency) in self._keys:
                    node.depends_on.add(self._keys[id(dependency)])

    def record_inputs(self) -> None:
        """Give every node its inputs and outputs, once the program has registered them all
        (a resource whose inputs wait for other outputs registers after :meth:`resolve`)."""
        for node in self.graph.nodes.values():
            node.props, node.outputs = self.created.get(node.key, ({}, {}))


def _flat(value: Any) -> Iterator[Any]:
    if isinstance(value, list | tuple):
        for item in value:
            yield from _flat(item)
    elif value is not None:
        yield value


def _outputs_in(value: Any) -> Iterator[Any]:
    """Every ``Output`` among a resource's inputs (nested in mappings, lists and input types)."""
    import pulumi

    def input_type_fields(value: Any) -> Mapping[str, Any] | None:
        if not hasattr(value, "__dict__") or isinstance(
            value, pulumi.Output | pulumi.Resource | type
        ):
            return None
        fields: dict[str, Any] = vars(value)
        return fields

    return (leaf for leaf in leaves(value, input_type_fields) if isinstance(leaf, pulumi.Output))


def to_snake(value: Any) -> Any:
    """Inputs with keys renamed from the engine's camelCase to pulumi-gcp's snake_case.

    Maps whose keys are user data (labels, annotations, flags' values) keep their keys.
    """
    if isinstance(value, Mapping):
        return {
            (_snake(k) if _is_property(k) else k): (v if k in _USER_MAPS else to_snake(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [to_snake(v) for v in value]
    return value


_USER_MAPS = frozenset(
    {
        "labels",
        "userLabels",
        "resourceLabels",
        "annotations",
        "data",
        "stringData",
        "selector",
        "matchLabels",
    }
)


def _is_property(key: str) -> bool:
    return bool(re.match(r"^[a-z][A-Za-z0-9]*$", key))


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()


__all__ = [
    "Evaluation",
    "Resource",
    "UnknownEnvironmentError",
    "evaluate",
    "known_environments",
    "read_stack_config",
    "redact",
    "to_snake",
]
