"""An environment as a Terraform plan: ``python -m infra.terraform_plan --env ENV`` (``infra export``).

Reviewers scan infrastructure code with the tools their organisation runs on Terraform (checkov,
Trivy, conftest, Infracost). pulumi-gcp is the bridged Terraform Google provider, so the offline
evaluation already holds what a plan holds; this module writes it in the shape that
``terraform show -json`` prints for a plan that creates every resource:

- ``type`` is the Terraform resource type of the Pulumi type token (``terraform_type``), ``name`` the
  Pulumi logical name, ``values`` the inputs with Terraform's attribute names: nested blocks are
  lists (``versioning = [{enabled = true}]``), maps (labels) stay maps, and the few blocks that
  pulumi-gcp pluralises get their Terraform name back (``allows`` → ``allow``).
- Secrets are never written: a secret input is left out of ``values`` and marked in
  ``sensitive_values`` / ``after_sensitive``.
- Attributes that only the cloud sets (ids, emails, self links, addresses) are absent from
  ``values`` and marked in ``after_unknown``, as Terraform prints "known after apply"; so is any input
  that carries the project number, which the mocks only stand in for.
- ``configuration`` carries the references between resources (a firewall's network, a bucket's key,
  a grant's service account), found by matching each value against the identifiers the other
  resources are known by (ids, self links, emails and names in the formats the provider documents).
- Kubernetes objects are ``kubernetes_manifest`` resources holding the object as applied (a Patch
  adds ``field_manager`` with ``force_conflicts``: server-side apply of a partial object); a kustomize
  directory, which no Terraform provider of HashiCorp's expands, is a ``terraform_data`` resource
  holding the directory. Pulumi components (groupings) are not resources in Terraform and are left
  out; provider resources become ``configuration.provider_config``.

Exit status: 0 written, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from infra.audit import COMPONENT_PREFIX, plain_numbers
from infra.config import StackConfigError
from infra.evaluate import (
    MOCK_PROJECT_NUMBER,
    PROJECT_ROOT,
    Evaluation,
    Resource,
    UnknownEnvironmentError,
    evaluate,
    to_snake,
)

# The plan format this export follows (terraform show -json), and the release that prints it.
FORMAT_VERSION = "1.2"
TERRAFORM_VERSION = "1.9.8"
PROVIDERS = {
    "google": "registry.terraform.io/hashicorp/google",
    "kubernetes": "registry.terraform.io/hashicorp/kubernetes",
    "terraform": "terraform.io/builtin/terraform",
    "random": "registry.terraform.io/hashicorp/random",
}
SCHEMA_FILE = Path(__file__).with_name("terraform_plan.schema.json")
SECRET = "[secret]"  # noqa: S105  (how the evaluation redacts a secret input)

# pulumi-gcp modules whose Terraform prefix is spelled differently.
_MODULE_PREFIXES = {
    "artifactregistry": "artifact_registry",
    "binaryauthorization": "binary_authorization",
    "containeranalysis": "container_analysis",
    "projects": "project",
    "serviceaccount": "service_account",
    "servicenetworking": "service_networking",
}
_TYPE_OVERRIDES = {"gcp:serviceaccount/account:Account": "google_service_account"}
_PROVIDER_PREFIX = "pulumi:providers:"
_KUBERNETES_PROVIDER = f"{_PROVIDER_PREFIX}kubernetes"
_GOOGLE_PROVIDER = f"{_PROVIDER_PREFIX}gcp"
_KUSTOMIZE_DIRECTORY = "kubernetes:kustomize/v2:Directory"
# Blocks and lists that pulumi-gcp pluralises where Terraform's name is singular, per resource type
# (at any depth of that resource). Every other attribute has the same snake_case name in both.
TERRAFORM_NAMES: dict[str, dict[str, str]] = {
    "google_bigquery_dataset": {"accesses": "access"},
    "google_bigquery_table": {"clusterings": "clustering"},
    "google_binary_authorization_policy": {"require_attestations_bies": "require_attestations_by"},
    "google_compute_firewall": {"allows": "allow", "denies": "deny"},
    "google_compute_subnetwork": {"secondary_ip_ranges": "secondary_ip_range"},
    "google_project_iam_audit_config": {"audit_log_configs": "audit_log_config"},
    "google_storage_bucket": {
        "lifecycle_rules": "lifecycle_rule",
        "matches_storage_classes": "matches_storage_class",
    },
    "google_sql_database_instance": {
        "ip_addresses": "ip_address",
        "server_ca_certs": "server_ca_cert",
    },
    "google_vertex_ai_endpoint": {"project_allowlists": "project_allowlist"},
}
# Pulumi's name for the labels the provider adds to the resource's own (Terraform's spelling).
_ALWAYS_RENAMED = {"pulumi_labels": "terraform_labels"}
# Attributes of map type: their keys are data, and they are not nested blocks.
MAP_ATTRIBUTES = frozenset({"labels", "user_labels", "resource_labels", "attribute_mapping"})
# Properties every Pulumi resource object has that are not the cloud's.
_PULUMI_PROPERTIES = frozenset({"urn", "pulumi_resource_name", "pulumi_resource_type"})
# What the cloud (or Terraform) sets on the resources that are not the Google provider's.
_COMPUTED_OUTSIDE_GOOGLE = {
    "kubernetes_manifest": frozenset({"object"}),
    "terraform_data": frozenset({"id", "output"}),
    # The generated value itself is secret: it is never exported, only marked unknown.
    "random_password": frozenset({"id", "result", "bcrypt_hash"}),
}
# A Terraform name: letters, digits, underscores and hyphens, not starting with a digit or hyphen.
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")


class ExportError(ValueError):
    """The evaluation cannot be written as a plan (a type without mapping, a shared address)."""


def _snake_type(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def terraform_type(token: str) -> str:
    """The Terraform resource type of a Pulumi type token.

    ``gcp:compute/routerNat:RouterNat`` → ``google_compute_router_nat``,
    ``gcp:projects/iAMMember:IAMMember`` → ``google_project_iam_member``; Kubernetes objects →
    ``kubernetes_manifest``; a kustomize directory → ``terraform_data``;
    ``random:index/randomPassword:RandomPassword`` → ``random_password``.

    Raises:
        ExportError: a token of a package this export does not know.
    """
    if token in _TYPE_OVERRIDES:
        return _TYPE_OVERRIDES[token]
    package, module_path, name = token.split(":")
    if package == "gcp":
        module = module_path.split("/")[0]
        return f"google_{_MODULE_PREFIXES.get(module, module)}_{_snake_type(name)}"
    if token == _KUSTOMIZE_DIRECTORY:
        return "terraform_data"
    if package == "kubernetes":
        return "kubernetes_manifest"
    if package == "random":
        # The bridged hashicorp/random provider: RandomPassword is random_password.
        return f"random_{_snake_type(name.removeprefix('Random'))}"
    raise ExportError(
        f"no Terraform type for {token!r}: only gcp, kubernetes and random resources export"
    )


def terraform_name(logical_name: str, token: str = "") -> str:
    """The Terraform resource name of a Pulumi logical name (other characters become ``_``).

    A Kubernetes object's name gets its kind (``…_deployment``): one Terraform type,
    ``kubernetes_manifest``, holds every kind, and Kubernetes names are unique per kind only.
    """
    if token.startswith("kubernetes:") and terraform_type(token) == "kubernetes_manifest":
        logical_name = f"{logical_name}_{_snake_type(token.rsplit(':', 1)[1])}"
    name = _NAME_CHARS.sub("_", logical_name)
    return name if re.match(r"^[A-Za-z_]", name) else f"_{name}"


@cache
def computed_attributes(token: str) -> frozenset[str]:
    """Attributes of a pulumi-gcp resource that only the cloud sets (outputs that are no input)."""
    if not token.startswith("gcp:"):
        return _COMPUTED_OUTSIDE_GOOGLE[terraform_type(token)]
    _, module_path, name = token.split(":")
    module = importlib.import_module(f"pulumi_gcp.{module_path.split('/')[0]}")

    def properties(cls: type) -> set[str]:
        return {n for n in dir(cls) if isinstance(getattr(cls, n, None), property)}

    outputs = properties(getattr(module, name)) - properties(getattr(module, f"{name}Args"))
    renames = attribute_renames(terraform_type(token))
    return frozenset(renames.get(n, n) for n in outputs - _PULUMI_PROPERTIES)


def attribute_renames(tf_type: str) -> dict[str, str]:
    """pulumi-gcp attribute name → Terraform's, where they differ, for a Terraform type."""
    return {**_ALWAYS_RENAMED, **TERRAFORM_NAMES.get(tf_type, {})}


def terraform_values(tf_type: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs (pulumi-gcp snake_case) as Terraform values: nested blocks as lists, names renamed."""
    renames = attribute_renames(tf_type)

    def convert(value: Any, key: str | None) -> Any:
        if isinstance(value, Mapping):
            if key in MAP_ATTRIBUTES:
                return dict(value)
            block = {renames.get(k, k): convert(v, k) for k, v in value.items()}
            return block if key is None else [block]
        if isinstance(value, list):
            return [convert(v, None) if isinstance(v, Mapping) else convert(v, key) for v in value]
        return value

    converted: dict[str, Any] = convert(dict(inputs), None)
    return converted


@dataclass(frozen=True)
class _Exported:
    """One resource on its way into the plan."""

    token: str
    type: str
    name: str
    values: dict[str, Any]
    provider: str

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"


def _exported(resource: Resource) -> _Exported:
    tf_type = terraform_type(resource.type)
    props = plain_numbers(dict(resource.props))
    if tf_type == "kubernetes_manifest":
        # The object as the API server receives it: Kubernetes' own camelCase names.
        values: dict[str, Any] = {"manifest": props}
        if resource.type.endswith("Patch"):
            values["field_manager"] = [{"name": "pulumi-kubernetes", "force_conflicts": True}]
        provider = "kubernetes"
    elif tf_type == "terraform_data":
        values, provider = {"input": to_snake(props)}, "terraform"
    elif tf_type.startswith("random_"):
        values, provider = to_snake(props), "random"
    else:
        values, provider = terraform_values(tf_type, to_snake(props)), "google"
    return _Exported(
        resource.type, tf_type, terraform_name(resource.name, resource.type), values, provider
    )


# --- References: the identifiers each resource is known by, in the provider's documented formats.


_COMPUTE_API = "https://www.googleapis.com/compute/v1/"
_EMAIL = "{account_id}@{project}.iam.gserviceaccount.com"
_BY_NAME = (("{name}", "name"),)
# How other resources refer to one: (identifier template, attribute), per Terraform type. The
# templates take the resource's values, with the stack's project and region where it names none.
_IDENTIFIERS: dict[str, tuple[tuple[str, str], ...]] = {
    "google_compute_network": (
        ("projects/{project}/global/networks/{name}", "id"),
        (_COMPUTE_API + "projects/{project}/global/networks/{name}", "self_link"),
        *_BY_NAME,
    ),
    "google_compute_subnetwork": (
        ("projects/{project}/regions/{region}/subnetworks/{name}", "id"),
        (_COMPUTE_API + "projects/{project}/regions/{region}/subnetworks/{name}", "self_link"),
        *_BY_NAME,
    ),
    "google_container_cluster": (
        ("projects/{project}/locations/{location}/clusters/{name}", "id"),
        *_BY_NAME,
    ),
    "google_kms_key_ring": (("projects/{project}/locations/{location}/keyRings/{name}", "id"),),
    "google_binary_authorization_attestor": (("projects/{project}/attestors/{name}", "id"),),
    "google_container_analysis_note": (("projects/{project}/notes/{name}", "id"), *_BY_NAME),
    "google_project_iam_custom_role": (("projects/{project}/roles/{role_id}", "name"),),
    "google_kms_crypto_key": (("{key_ring}/cryptoKeys/{name}", "id"),),
    "google_service_account": (
        (_EMAIL, "email"),
        # Cloud SQL names an IAM user by the email without its domain suffix.
        ("{account_id}@{project}.iam", "email"),
        ("serviceAccount:" + _EMAIL, "member"),
        ("projects/{project}/serviceAccounts/" + _EMAIL, "name"),
    ),
    "google_sql_database_instance": (*_BY_NAME, ("{project}:{region}:{name}", "connection_name")),
    "google_bigquery_dataset": (("{dataset_id}", "dataset_id"),),
    "google_iam_workload_identity_pool": (
        ("{workload_identity_pool_id}", "workload_identity_pool_id"),
    ),
    "google_storage_bucket": _BY_NAME,
    "google_dns_managed_zone": _BY_NAME,
    "google_compute_router": _BY_NAME,
    "google_compute_global_address": _BY_NAME,
    "google_logging_metric": _BY_NAME,
}


def _identifiers(r: _Exported, project: str, region: str) -> dict[str, str]:
    """Identifier → the attribute of ``r`` it is (``id``, ``email``, ``name`` …)."""
    fields = {k: str(v) for k, v in r.values.items() if isinstance(v, str | int)}
    fields = {"project": project, "region": region, "location": region, **fields}
    found = {}
    for template, attribute in _IDENTIFIERS.get(r.type, ()):
        try:
            found[template.format_map(fields)] = attribute
        except KeyError:  # the resource leaves that part unset: it is not known by this identifier
            continue
    # An identifier short or plain enough to occur by chance in other text is not used.
    return {k: a for k, a in found.items() if len(k) >= 6 and re.search(r"[-_/@.:]", k)}


class _References:
    """Finds the resources a value refers to: their identifiers, delimited, inside the value."""

    def __init__(self, resources: Sequence[_Exported], project: str, region: str) -> None:
        self._targets: dict[str, tuple[str, str]] = {}
        for r in resources:
            for identifier, attribute in _identifiers(r, project, region).items():
                self._targets.setdefault(identifier, (r.address, attribute))
        alternatives = sorted(self._targets, key=len, reverse=True)
        self._pattern = (
            re.compile(
                r"(?<![A-Za-z0-9_.-])("
                + "|".join(map(re.escape, alternatives))
                + r")(?![A-Za-z0-9_-])"
            )
            if alternatives
            else None
        )

    def in_value(self, value: str, source: str) -> list[str]:
        """Terraform references (``type.name.attr``, ``type.name``) made by ``value``."""
        if self._pattern is None:
            return []
        refs: list[str] = []
        # The longest identifier wins where one contains another (a key ring's id in a key's id).
        for match in self._pattern.finditer(value):
            address, attribute = self._targets[match.group(1)]
            if address != source:
                refs += [f"{address}.{attribute}", address]
        return list(dict.fromkeys(refs))


def _expressions(
    value: Any, refs: _References, source: str, key: str | None = None
) -> dict[str, Any] | list[Any]:
    """The ``expressions`` of a value: nested blocks stay lists of expression maps."""
    blocks = isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value)
    if blocks and key not in MAP_ATTRIBUTES:
        return [{k: _expressions(v, refs, source, k) for k, v in block.items()} for block in value]
    found = [r for text in _strings(value) for r in refs.in_value(text, source)]
    if found:
        return {"references": list(dict.fromkeys(found))}
    return {"constant_value": value}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


# --- Secrets and unknown values: taken out of ``values`` and marked where they were.


def _marked(mark: Any) -> bool:
    return mark is True or (
        isinstance(mark, dict | list)
        and any(_marked(m) for m in (mark.values() if isinstance(mark, dict) else mark))
    )


def _split(value: Any) -> tuple[Any, Any, Any]:
    """(known value, sensitive marks, unknown marks) of a value, in the plan format's layout.

    A secret stays as ``null`` (Terraform would print it and mark it sensitive); an unknown
    attribute is left out of its object, an unknown list element is ``null``.
    """
    if isinstance(value, str) and value == SECRET:
        return None, True, False
    if isinstance(value, str) and MOCK_PROJECT_NUMBER in value:
        return None, False, True
    if isinstance(value, Mapping):
        known, sensitive, unknown = {}, {}, {}
        for k, item in value.items():
            known_item, sensitive_item, unknown_item = _split(item)
            if unknown_item is not True:
                known[k] = known_item
            if _marked(sensitive_item):
                sensitive[k] = sensitive_item
            if _marked(unknown_item):
                unknown[k] = unknown_item
        return known, sensitive, unknown
    if isinstance(value, list):
        parts = [_split(item) for item in value]
        sensitive_list = [p[1] for p in parts]
        unknown_list = [p[2] for p in parts]
        return (
            [p[0] for p in parts],
            sensitive_list if _marked(sensitive_list) else [],
            unknown_list if _marked(unknown_list) else [],
        )
    return value, False, False


def _resource_entries(r: _Exported, refs: _References) -> tuple[dict[str, Any], ...]:
    known, sensitive, unknown = _split(r.values)
    sensitive = sensitive or {}
    unknown = {**(unknown or {}), **dict.fromkeys(sorted(computed_attributes(r.token)), True)}
    common = {
        "address": r.address,
        "mode": "managed",
        "type": r.type,
        "name": r.name,
        "provider_name": PROVIDERS[r.provider],
    }
    planned = {**common, "schema_version": 0, "values": known, "sensitive_values": sensitive}
    change = {
        **common,
        "change": {
            "actions": ["create"],
            "before": None,
            "after": known,
            "after_unknown": unknown,
            "before_sensitive": False,
            "after_sensitive": sensitive,
        },
    }
    configured = {
        "address": r.address,
        "mode": "managed",
        "type": r.type,
        "name": r.name,
        "provider_config_key": r.provider,
        "expressions": {
            k: _expressions(v, refs, r.address, k)
            for k, v in r.values.items()
            if not _marked(_split(v)[1])  # a secret's expression would show it
        },
        "schema_version": 0,
    }
    return planned, change, configured


def _provider_config(evaluation: Evaluation, project: str, region: str) -> dict[str, Any]:
    config: dict[str, Any] = {
        "google": {
            "name": "google",
            "full_name": PROVIDERS["google"],
            "expressions": {
                "project": {"constant_value": project},
                "region": {"constant_value": region},
            },
        }
    }
    # Extra Google providers (a quota project for billing calls, say) are aliased configurations.
    for provider in (r for r in evaluation.resources if r.type == _GOOGLE_PROVIDER):
        alias = terraform_name(provider.name)
        inputs = plain_numbers(to_snake(dict(provider.props)))
        config[f"google.{alias}"] = {
            "name": "google",
            "full_name": PROVIDERS["google"],
            "alias": alias,
            "expressions": {
                k: {"constant_value": v} for k, v in inputs.items() if not _marked(_split(v)[1])
            },
        }
    kubernetes = [r for r in evaluation.resources if r.type == _KUBERNETES_PROVIDER]
    for provider in kubernetes:
        inputs = plain_numbers(to_snake(dict(provider.props)))
        config["kubernetes"] = {
            "name": "kubernetes",
            "full_name": PROVIDERS["kubernetes"],
            "alias": terraform_name(provider.name),
            "expressions": {
                k: {"constant_value": v} for k, v in inputs.items() if not _marked(_split(v)[1])
            },
        }
    if len(kubernetes) > 1:
        raise ExportError("more than one Kubernetes provider: the export names one per stack")
    return config


def export_plan(evaluation: Evaluation) -> dict[str, Any]:
    """The environment as the JSON ``terraform show -json`` prints for a plan that creates it.

    Raises:
        ExportError: two resources map to one Terraform address, or a type has no mapping.
    """
    project = str(evaluation.outputs.get("project") or "")
    region = str(evaluation.outputs.get("region") or "")
    resources = sorted(
        (
            _exported(r)
            for r in evaluation.resources
            if not r.type.startswith((COMPONENT_PREFIX, _PROVIDER_PREFIX))
        ),
        key=lambda r: r.address,
    )
    addresses = [r.address for r in resources]
    duplicates = sorted({a for a in addresses if addresses.count(a) > 1})
    if duplicates:
        raise ExportError(f"resources share Terraform addresses: {', '.join(duplicates)}")
    refs = _References(resources, project, region)
    entries = [_resource_entries(r, refs) for r in resources]
    return {
        "format_version": FORMAT_VERSION,
        "terraform_version": TERRAFORM_VERSION,
        "planned_values": {"root_module": {"resources": [e[0] for e in entries]}},
        "resource_changes": [e[1] for e in entries],
        "configuration": {
            "provider_config": _provider_config(evaluation, project, region),
            "root_module": {"resources": [e[2] for e in entries]},
        },
        "applyable": True,
        "complete": True,
        "errored": False,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m infra.terraform_plan", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--env", required=True)
    parser.add_argument("--project-dir", type=Path, default=PROJECT_ROOT)
    args = parser.parse_args(argv)
    try:
        plan = export_plan(evaluate(args.env, args.project_dir))
    except (UnknownEnvironmentError, StackConfigError, ExportError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    # Sorted keys: the same program gives the same file, so exports diff cleanly in review.
    sys.stdout.write(json.dumps(plan, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
