"""Evaluate the program offline under ``pulumi.runtime.set_mocks``: no CLI, credentials or network.

The mocks record every resource the program declares (type, name, inputs as the engine sees them:
camelCase, numbers as floats) and answer with plausible computed outputs (emails, connection names,
self links), so the stack outputs resolve exactly as ``pulumi stack output --json`` would print them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.config import decode_config_value, parse_config
from infra.policies.controls import Resource

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


def _mock_outputs(  # noqa: C901, PLR0912
    type_: str, name: str, inputs: dict[str, Any], project: str, region: str
) -> tuple[str, dict[str, Any]]:
    """A plausible (id, outputs) for a resource: the inputs plus what the cloud would compute."""
    out = dict(inputs)
    physical = str(inputs.get("name") or name)
    project = str(inputs.get("project") or project)
    rid = f"{name}-id"
    if type_ == "gcp:serviceaccount/account:Account":
        email = f"{inputs['accountId']}@{project}.iam.gserviceaccount.com"
        out.update(
            email=email,
            name=f"projects/{project}/serviceAccounts/{email}",
            member=f"serviceAccount:{email}",
        )
        rid = out["name"]
    elif type_ == "gcp:sql/databaseInstance:DatabaseInstance":
        region = str(inputs.get("region") or region)
        out.update(connectionName=f"{project}:{region}:{physical}", privateIpAddress="10.99.0.3")
    elif type_ == "gcp:storage/bucket:Bucket":
        out.update(
            url=f"gs://{physical}", selfLink=f"https://www.googleapis.com/storage/v1/b/{physical}"
        )
    elif type_ == "gcp:compute/network:Network":
        rid = f"projects/{project}/global/networks/{physical}"
        out.update(selfLink=f"https://www.googleapis.com/compute/v1/{rid}")
    elif type_ == "gcp:compute/subnetwork:Subnetwork":
        rid = f"projects/{project}/regions/{inputs.get('region', region)}/subnetworks/{physical}"
        out.update(selfLink=f"https://www.googleapis.com/compute/v1/{rid}")
    elif type_ == "gcp:container/cluster:Cluster":
        rid = f"projects/{project}/locations/{inputs.get('location', region)}/clusters/{physical}"
        out.update(endpoint="172.16.0.2", masterAuth={"clusterCaCertificate": "Q0EtQ0VSVA=="})
    elif type_ == "gcp:kms/keyRing:KeyRing":
        rid = f"projects/{project}/locations/{inputs.get('location', region)}/keyRings/{physical}"
    elif type_ == "gcp:kms/cryptoKey:CryptoKey":
        rid = f"{inputs['keyRing']}/cryptoKeys/{physical}"
    elif type_ == "gcp:logging/projectSink:ProjectSink":
        out.update(
            writerIdentity=f"serviceAccount:service-{MOCK_PROJECT_NUMBER}@gcp-sa-logging.iam.gserviceaccount.com"
        )
    elif type_ == "gcp:projects/serviceIdentity:ServiceIdentity":
        service = str(inputs.get("service", "")).split(".")[0]
        agent = "gcp-sa-cloud-sql" if service == "sqladmin" else f"gcp-sa-{service}"
        out.update(email=f"service-{MOCK_PROJECT_NUMBER}@{agent}.iam.gserviceaccount.com")
    elif type_ == "gcp:compute/address:Address":
        out.update(address="10.99.1.10")
    elif type_ == "gcp:monitoring/notificationChannel:NotificationChannel":
        rid = f"projects/{project}/notificationChannels/{name}"
    elif type_ == "gcp:billing/budget:Budget":
        out.update(name=f"billingAccounts/{inputs.get('billingAccount')}/budgets/{name}")
    return rid, out


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
    from pulumi.runtime.settings import SETTINGS
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from infra.config import load_config
    from infra.program import program

    values = dict(config) if config is not None else read_stack_config(environment, root)
    # Fail on bad config before Pulumi starts: the error names the key.
    parse_config({k: decode_config_value(v) for k, v in values.items()}, environment)
    project = str(values.get("gcp:project", "project"))
    region = str(values.get("gcp:region", "us-central1"))
    result = Evaluation(environment)

    class RecordingMocks(pulumi.runtime.Mocks):
        def new_resource(
            self, args: pulumi.runtime.MockResourceArgs
        ) -> tuple[str | None, dict[str, Any]]:
            inputs = dict(args.inputs)
            rid, outputs = _mock_outputs(args.typ, args.name, inputs, project, region)
            result.resources.append(Resource(type=args.typ, name=args.name, props=redact(inputs)))
            return rid, outputs

        def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
            if args.token == "gcp:organizations/getProject:getProject":  # noqa: S105
                return {"number": MOCK_PROJECT_NUMBER, "projectId": project}
            return {}

    pulumi.runtime.set_all_config(
        {
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in values.items()
        }
    )
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    pulumi_mocks.set_mocks(RecordingMocks(), project="mlops-kit", stack=environment, preview=False)

    def body() -> None:
        outputs = program(load_config())
        result.outputs = _sync_await(pulumi.Output.from_input(outputs).future()) or {}

    _sync_await(run_pulumi_func(body))
    return result


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
