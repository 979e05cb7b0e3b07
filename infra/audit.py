"""Reviewers' audit, offline: ``python -m infra.audit`` (what ``mlops-kit infra audit`` runs).

Evaluates an environment's program under Pulumi mocks (no CLI, no credentials, no network) and
prints the resource inventory, the policy results, the IAM grants and, with ``--diff A B``, the
settings that differ between two environments.

    python -m infra.audit audit --env prod [--format table|json|markdown]
    python -m infra.audit audit --diff staging prod [--format ...]
    python -m infra.audit inventory --env dev            # raw inputs, snake_case, secrets redacted
    python -m infra.audit outputs --env dev              # the stack outputs `env import` reads

Exit status: 0 clean, 1 policy violations, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.config import StackConfigError
from infra.evaluate import (
    KUSTOMIZE_DIRECTORY,
    PROJECT_ROOT,
    Evaluation,
    UnknownEnvironmentError,
    evaluate,
    to_snake,
)
from infra.order import PRECONDITIONS, check_order
from infra.policies import controls as c
from infra.policies.controls.artifact_registry import PUBLIC_READ_APPROVED, REPOSITORY

if TYPE_CHECKING:
    from rich.table import Table

# What a reviewer looks at first, per resource type (paths in the engine's camelCase).
KEY_SETTINGS: dict[str, tuple[str, ...]] = {
    c.BUCKET: (
        "location",
        "publicAccessPrevention",
        "uniformBucketLevelAccess",
        "versioning.enabled",
        "softDeletePolicy.retentionDurationSeconds",
        "retentionPolicy.retentionPeriod",
        "retentionPolicy.isLocked",
        "enableObjectRetention",
        "forceDestroy",
        "encryption.defaultKmsKeyName",
    ),
    c.SQL_INSTANCE: (
        "databaseVersion",
        "settings.tier",
        "settings.availabilityType",
        "settings.ipConfiguration.ipv4Enabled",
        "settings.ipConfiguration.sslMode",
        "settings.connectorEnforcement",
        "settings.backupConfiguration.pointInTimeRecoveryEnabled",
        "settings.backupConfiguration.backupRetentionSettings.retainedBackups",
        "deletionProtection",
        "settings.deletionProtectionEnabled",
    ),
    c.DATASET: (
        "datasetId",
        "location",
        "defaultEncryptionConfiguration.kmsKeyName",
        "maxTimeTravelHours",
    ),
    c.TABLE: (
        "tableId",
        "timePartitioning.type",
        "timePartitioning.field",
        "requirePartitionFilter",
        "clusterings",
        "deletionProtection",
    ),
    c.CLUSTER: (
        "location",
        "releaseChannel.channel",
        "privateClusterConfig.enablePrivateNodes",
        "privateClusterConfig.enablePrivateEndpoint",
        "workloadIdentityConfig.workloadPool",
        "datapathProvider",
        "deletionProtection",
    ),
    c.NODE_POOL: (
        "nodeConfig.machineType",
        "autoscaling.minNodeCount",
        "autoscaling.maxNodeCount",
        "nodeConfig.sandboxConfig.type",
    ),
    c.NETWORK: ("autoCreateSubnetworks",),
    c.SUBNET: ("ipCidrRange", "privateIpGoogleAccess", "logConfig.flowSampling"),
    c.FIREWALL: ("direction", "sourceRanges", "allows"),
    c.CRYPTO_KEY: ("purpose", "rotationPeriod", "versionTemplate.algorithm", "labels.rotation"),
    c.BINARY_AUTHORIZATION_POLICY: (
        "defaultAdmissionRule.evaluationMode",
        "defaultAdmissionRule.enforcementMode",
        "defaultAdmissionRule.requireAttestationsBies",
    ),
    c.ATTESTOR: (
        "attestationAuthorityNote.noteReference",
        "attestationAuthorityNote.publicKeys.id",
    ),
    REPOSITORY: ("format", "mode", "kmsKeyName", f"labels.{PUBLIC_READ_APPROVED[0]}"),
    c.SINK: ("destination", "filter"),
    "gcp:billing/budget:Budget": (
        "amount.specifiedAmount.units",
        "amount.specifiedAmount.currencyCode",
    ),
    "kubernetes:kustomize/v2:Directory": ("directory",),
    c.NAMESPACE: ("metadata.labels",),
}
COMPONENT_PREFIX = "mlops-kit:"
# The audit shows what the cloud gets: no components (groupings) and no provider configurations.
HIDDEN_TYPE_PREFIXES = (COMPONENT_PREFIX, "pulumi:providers:")


def plain_numbers(value: Any) -> Any:
    """``value`` with whole floats as ints: the engine passes every number as a float."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: plain_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_numbers(v) for v in value]
    return value


def inventory(evaluation: Evaluation) -> list[dict[str, Any]]:
    """Every declared resource: type, name and inputs in pulumi-gcp's snake_case (secrets redacted)."""
    return [
        {"type": r.type, "name": r.name, "inputs": plain_numbers(to_snake(dict(r.props)))}
        for r in evaluation.resources
        if not r.type.startswith(COMPONENT_PREFIX)
    ]


def _snake_path(path: str) -> str:
    return ".".join(to_snake({p: None}).popitem()[0] for p in path.split("."))


def key_settings(resource: c.Resource) -> dict[str, Any]:
    """The reviewer-facing settings of ``resource`` (snake_case paths), omitted ones left out."""
    found = {}
    for path in KEY_SETTINGS.get(resource.type, ()):
        value = c.get(resource.props, path)
        if value is not None:
            found[_snake_path(path)] = plain_numbers(value)
    return found


def _dataset_member(access: Mapping[str, Any]) -> str:
    for key, kind in (("userByEmail", "user"), ("groupByEmail", "group"), ("domain", "domain")):
        if access.get(key):
            kind = "serviceAccount" if str(access[key]).endswith("gserviceaccount.com") else kind
            return f"{kind}:{access[key]}"
    return str(access.get("specialGroup") or access.get("iamMember") or "?")


def _last_segment(value: Any) -> str:
    return str(value or "").split("/")[-1]


# Where each kind of IAM resource names what it grants on.
_GRANT_TARGETS: tuple[tuple[tuple[str, ...], Callable[[Mapping[str, Any]], str]], ...] = (
    (c.PROJECT_IAM, lambda p: f"project {p.get('project')}"),
    (c.BUCKET_IAM, lambda p: f"bucket {p.get('bucket')}"),
    (
        ("gcp:serviceaccount/iAMMember:IAMMember",),
        lambda p: f"service account {_last_segment(p.get('serviceAccountId'))}",
    ),
    (c.KMS_IAM, lambda p: f"key {_last_segment(p.get('cryptoKeyId') or p.get('keyRingId'))}"),
    (c.BIGQUERY_IAM, lambda p: f"dataset {p.get('datasetId')}"),
    (
        ("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",),
        lambda p: f"repository {p.get('repository')}",
    ),
    (
        ("gcp:containeranalysis/noteIamMember:NoteIamMember",),
        lambda p: f"note {_last_segment(p.get('note'))}",
    ),
    (
        ("gcp:binaryauthorization/attestorIamMember:AttestorIamMember",),
        lambda p: f"attestor {_last_segment(p.get('attestor'))}",
    ),
    (("gcp:iap/webIamMember:WebIamMember",), lambda p: f"IAP web resources of {p.get('project')}"),
)


def _grant(member: str, role: str, target: str, condition: str = "") -> dict[str, str]:
    return {"member": member, "role": role, "resource": target, "condition": condition}


def _grants_of(resource: c.Resource) -> Iterator[dict[str, str]]:
    """The grants one resource makes: IAM resources, dataset access lists, IAM database users."""
    p = resource.props
    if resource.type == c.DATASET:
        for access in p.get("accesses") or []:
            yield _grant(
                _dataset_member(access),
                f"bigquery {access.get('role')}",
                f"dataset {p.get('datasetId')}",
            )
        return
    if resource.type == "gcp:sql/user:User" and p.get("type") == "CLOUD_IAM_SERVICE_ACCOUNT":
        yield _grant(
            f"serviceAccount:{p.get('name')}",
            "IAM database login",
            f"sql instance {p.get('instance')}",
        )
        return
    for types, target in _GRANT_TARGETS:
        if resource.type in types:
            condition = str(c.get(p, "condition.title", ""))
            for member, role in c.iam_entries(resource):
                yield _grant(member, role, target(p), condition)
            return


def iam_grants(resources: Sequence[c.Resource]) -> list[dict[str, str]]:
    """Who gets which role on which resource, from every IAM-bearing resource."""
    grants = [grant for resource in resources for grant in _grants_of(resource)]
    return sorted(grants, key=lambda g: (g["member"], g["resource"], g["role"]))


def policy_results(resources: Sequence[c.Resource]) -> list[dict[str, Any]]:
    """Each control's status and violations on ``resources``."""
    return [
        {
            "control": result.control.id,
            "cis": list(result.control.cis),
            "title": result.control.title,
            "status": result.status,
            "checked": result.checked,
            "violations": [
                {"resource_type": v.resource_type, "resource": v.resource, "message": v.message}
                for v in result.violations
            ],
        }
        for result in c.evaluate_controls(resources)
    ]


def order_results(evaluation: Evaluation) -> list[dict[str, Any]]:
    """Each of Google Cloud's creation-order preconditions and where the program breaks it."""
    violations = check_order(evaluation.graph)
    return [
        {
            "precondition": rule.id,
            "title": rule.title,
            "status": "FAIL" if any(v.precondition == rule.id for v in violations) else "pass",
            "violations": [v.message for v in violations if v.precondition == rule.id],
        }
        for rule in PRECONDITIONS
    ]


def kubernetes_objects(resources: Sequence[c.Resource]) -> list[dict[str, Any]]:
    """Every Kubernetes object the program applies: its own and those of the KFP install."""
    from infra.image_digests import by_digest
    from infra.kubeflow_inventory import images

    found = []
    for resource in resources:
        if not resource.type.startswith("kubernetes:") or resource.type == KUSTOMIZE_DIRECTORY:
            continue
        metadata = c.get(resource.props, "metadata", {})
        pinned = images(resource.props)
        found.append(
            {
                "kind": resource.type.rsplit(":", 1)[-1],
                "namespace": metadata.get("namespace") or "",
                "name": metadata.get("name") or resource.name,
                "applied_by": resource.name.split(":", 1)[0] if ":" in resource.name else "program",
                "images": pinned,
                # A tag can be moved to another image; a digest cannot.
                "digests": all(by_digest(image) for image in pinned) if pinned else None,
            }
        )
    return found


def audit_report(evaluation: Evaluation) -> dict[str, Any]:
    """The whole audit of one environment as plain data."""
    visible = [r for r in evaluation.resources if not r.type.startswith(HIDDEN_TYPE_PREFIXES)]
    policies = policy_results(evaluation.resources)
    order = order_results(evaluation)
    return {
        "environment": evaluation.environment,
        "summary": {
            "resources": len(visible),
            "controls": len(policies),
            "passed": sum(p["status"] == "pass" for p in policies),
            "failed": sum(p["status"] == "FAIL" for p in policies),
            "warned": sum(p["status"] == "warn" for p in policies),
            "not_applicable": sum(p["status"] == "n/a" for p in policies),
            # What fails the audit: an advisory control's violations are warnings.
            "violations": sum(len(p["violations"]) for p in policies if p["status"] == "FAIL")
            + sum(len(o["violations"]) for o in order),
            "warnings": sum(len(p["violations"]) for p in policies if p["status"] == "warn"),
        },
        "inventory": [
            {"type": r.type, "name": r.name, "settings": key_settings(r)} for r in visible
        ],
        "policies": policies,
        "order": order,
        "kubernetes": kubernetes_objects(evaluation.resources),
        "iam": iam_grants(evaluation.resources),
    }


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and any(isinstance(v, Mapping | list) for v in value):
        for index, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{index}]")
    else:
        yield prefix, value


def _normaliser(evaluation: Evaluation) -> Any:
    project = str(evaluation.outputs.get("project") or "")
    env = re.compile(rf"(?<![a-z]){re.escape(evaluation.environment)}(?![a-z])")

    def normalise(value: Any) -> Any:
        if isinstance(value, str):
            return env.sub("<env>", value.replace(project, "<project>") if project else value)
        if isinstance(value, list):
            return [normalise(item) for item in value]
        return value

    return normalise


def settings_diff(a: Evaluation, b: Evaluation) -> list[dict[str, Any]]:
    """Settings that differ between two environments (names and values with env/project masked)."""
    sides = []
    for evaluation in (a, b):
        normalise = _normaliser(evaluation)
        sides.append(
            {
                (item["type"], normalise(item["name"])): {
                    path: normalise(value) for path, value in _flatten(item["inputs"])
                }
                for item in inventory(evaluation)
            }
        )
    rows: list[dict[str, Any]] = []
    for key in sorted(set(sides[0]) | set(sides[1])):
        type_, name = key
        left, right = sides[0].get(key), sides[1].get(key)
        if left is None or right is None:
            rows.append(
                {
                    "type": type_,
                    "name": name,
                    "setting": "(resource)",
                    a.environment: "present" if left is not None else "absent",
                    b.environment: "present" if right is not None else "absent",
                }
            )
            continue
        for path in sorted(set(left) | set(right)):
            if left.get(path) != right.get(path):
                rows.append(
                    {
                        "type": type_,
                        "name": name,
                        "setting": path,
                        a.environment: left.get(path),
                        b.environment: right.get(path),
                    }
                )
    return rows


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text.replace("|", "\\|")


def _markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _rich_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A titled rich ``Table`` of the rows, one cell per value as :func:`_cell` writes it."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    return table


def render_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str
) -> str | None:
    """One titled table as Markdown text, or printed with rich for ``table`` (then ``None``)."""
    if fmt == "markdown":
        return f"## {title}\n\n{_markdown_table(columns, rows)}\n"
    from rich.console import Console

    Console(soft_wrap=False).print(_rich_table(title, columns, rows))
    return None


def _sections(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    s = report["summary"]
    return [
        (
            f"Audit of {report['environment']}: {s['resources']} resources, {s['controls']} controls "
            f"({s['passed']} pass, {s['failed']} fail, {s['warned']} warn, "
            f"{s['not_applicable']} n/a), {s['violations']} violations, {s['warnings']} warnings",
            [],
            [],
        ),
        (
            "Policy results",
            ["control", "cis", "status", "checked", "violations"],
            [
                [
                    p["control"],
                    ", ".join(p["cis"]),
                    p["status"],
                    p["checked"],
                    "; ".join(
                        f"{v['resource'] or 'stack'}: {v['message']}" for v in p["violations"]
                    ),
                ]
                for p in report["policies"]
            ],
        ),
        (
            "Creation order (Google Cloud's preconditions)",
            ["precondition", "status", "violations"],
            [
                [f"{o['precondition']}: {o['title']}", o["status"], "; ".join(o["violations"])]
                for o in report["order"]
            ],
        ),
        (
            "Kubernetes objects (what the program and the pinned KFP install apply)",
            ["kind", "namespace", "name", "applied by", "images", "pinned by digest"],
            [
                [
                    k["kind"],
                    k["namespace"],
                    k["name"],
                    k["applied_by"],
                    ", ".join(k["images"]),
                    "" if k["digests"] is None else ("yes" if k["digests"] else "no (tag)"),
                ]
                for k in report["kubernetes"]
            ],
        ),
        (
            "IAM grants",
            ["member", "role", "resource", "condition"],
            [[g["member"], g["role"], g["resource"], g["condition"]] for g in report["iam"]],
        ),
        (
            "Inventory",
            ["type", "name", "key settings"],
            [
                [
                    i["type"],
                    i["name"],
                    ", ".join(f"{k}={_cell(v)}" for k, v in i["settings"].items()),
                ]
                for i in report["inventory"]
            ],
        ),
    ]


def render(report: dict[str, Any], fmt: str) -> str | None:
    """The report as JSON or Markdown text; ``None`` for ``table`` (printed with rich)."""
    if fmt == "json":
        return json.dumps(report, indent=2, default=str)
    if fmt == "markdown":
        parts = []
        for title, columns, rows in _sections(report):
            parts.append(
                f"## {title}" if not columns else f"### {title}\n\n{_markdown_table(columns, rows)}"
            )
        return "\n\n".join(parts) + "\n"
    from rich.console import Console

    console = Console(soft_wrap=False)
    for title, columns, rows in _sections(report):
        console.print(_rich_table(title, columns, rows) if columns else f"[bold]{title}[/bold]")
    return None


def render_diff(a: str, b: str, rows: list[dict[str, Any]], fmt: str) -> str | None:
    """The settings diff as JSON or Markdown text; ``None`` for ``table``."""
    if fmt == "json":
        return json.dumps({"environments": [a, b], "differences": rows}, indent=2, default=str)
    return render_table(
        f"Settings that differ between {a} and {b}",
        ["type", "name", "setting", a, b],
        [[r["type"], r["name"], r["setting"], r[a], r[b]] for r in rows],
        fmt,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m infra.audit", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    audit = sub.add_parser("audit", help="inventory, policy results, IAM grants, or a diff")
    audit.add_argument("--env")
    audit.add_argument("--diff", nargs=2, metavar=("A", "B"))
    audit.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    commands = [audit]
    for name in ("inventory", "outputs"):
        command = sub.add_parser(name)
        command.add_argument("--env", required=True)
        command.add_argument("--format", choices=("json",), default="json")
        commands.append(command)
    for command in commands:
        command.add_argument("--project-dir", type=Path, default=PROJECT_ROOT)
    args = parser.parse_args(argv)
    root = args.project_dir
    try:
        if args.command == "audit" and args.diff:
            first, second = evaluate(args.diff[0], root), evaluate(args.diff[1], root)
            text = render_diff(
                first.environment, second.environment, settings_diff(first, second), args.format
            )
            if text is not None:
                sys.stdout.write(text if text.endswith("\n") else text + "\n")
            return 0
        if args.command == "audit" and not args.env:
            parser.error("give --env ENV (or --diff A B)")
        evaluation = evaluate(args.env, root)
    except (UnknownEnvironmentError, StackConfigError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if args.command == "inventory":
        sys.stdout.write(json.dumps(inventory(evaluation), indent=2, default=str) + "\n")
        return 0
    if args.command == "outputs":
        sys.stdout.write(json.dumps(evaluation.outputs, indent=2, default=str) + "\n")
        return 0
    report = audit_report(evaluation)
    text = render(report, args.format)
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 1 if report["summary"]["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
