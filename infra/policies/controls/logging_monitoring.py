"""CIS GCP section 2: logging and monitoring."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from infra.policies.controls.registry import Section
from infra.policies.controls.resources import (
    ALERT_POLICY,
    AUDIT_CONFIG,
    BUCKET,
    DNS_POLICY,
    LOG_METRIC,
    NETWORK,
    SERVICE,
    SINK,
    Resource,
    get,
)

SECTION = Section("CIS GCP 2: logging and monitoring")


@SECTION.stack_control(
    "logging-audit-all-services",
    ["CIS GCP 2.1"],
    "Data Access audit logs for all services, no exemptions",
    AUDIT_CONFIG,
)
def audit_all_services(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    complete = False
    for resource in resources:
        if resource.type != AUDIT_CONFIG:
            continue
        configs = resource.props.get("auditLogConfigs") or []
        for config in configs:
            if config.get("exemptedMembers"):
                yield (
                    resource,
                    f"audit log type {config.get('logType')} exempts {config['exemptedMembers']}",
                )
        types = {c.get("logType") for c in configs}
        if resource.props.get("service") == "allServices" and {"DATA_READ", "DATA_WRITE"} <= types:
            complete = True
    if not complete:
        yield None, "no IAMAuditConfig for allServices with DATA_READ and DATA_WRITE"


@SECTION.stack_control(
    "logging-sink-all-entries", ["CIS GCP 2.2 (v5 2.3)"], "A sink exports all log entries", SINK
)
def sink_all_entries(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    sinks = [r for r in resources if r.type == SINK and not r.props.get("disabled")]
    if not any(not (r.props.get("filter") or "").strip() for r in sinks):
        yield None, "no enabled log sink with an empty filter (all log entries)"


@SECTION.stack_control(
    "logging-export-bucket-locked",
    ["CIS GCP 2.3 (v5 2.4)"],
    "Log-export buckets have a locked retention policy",
    SINK,
    BUCKET,
)
def export_bucket_locked(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    buckets = {str(r.props.get("name") or r.name): r for r in resources if r.type == BUCKET}
    for sink in (r for r in resources if r.type == SINK):
        destination = str(sink.props.get("destination") or "")
        if not destination.startswith("storage.googleapis.com/"):
            continue
        bucket = buckets.get(destination.removeprefix("storage.googleapis.com/"))
        if bucket is None:
            continue  # a bucket of another stack: its own stack is audited
        if not get(bucket.props, "retentionPolicy.retentionPeriod", 0) or not get(
            bucket.props, "retentionPolicy.isLocked", False
        ):
            yield bucket, "log-export bucket has no locked retention policy (Bucket Lock)"


# Distinctive parts of the CIS filters of 2.4-2.11 (v5 2.5-2.12).
CHANGE_ALERT_FILTERS: dict[str, str] = {
    "2.4": "roles/owner",
    "2.5": "auditConfigDeltas",
    "2.6": 'resource.type="iam_role"',
    "2.7": 'resource.type="gce_firewall_rule"',
    "2.8": 'resource.type="gce_route"',
    "2.9": 'resource.type="gce_network"',
    "2.10": "storage.setIamPermissions",
    "2.11": "cloudsql.instances.update",
}


@SECTION.stack_control(
    "logging-change-alerts",
    ["CIS GCP 2.4-2.11 (v5 2.5-2.12)"],
    "Log metric and alert for ownership, audit, role, firewall, route, network, bucket-IAM and SQL changes",
    LOG_METRIC,
    ALERT_POLICY,
)
def change_alerts(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    alert_filters = " ".join(
        json.dumps(r.props.get("conditions") or []) for r in resources if r.type == ALERT_POLICY
    )
    metrics = [r for r in resources if r.type == LOG_METRIC]
    for cis_id, fragment in CHANGE_ALERT_FILTERS.items():
        matching = [m for m in metrics if fragment in str(m.props.get("filter") or "")]
        if not matching:
            yield None, f"CIS {cis_id}: no log-based metric filtering on {fragment}"
        elif not any(
            f"logging.googleapis.com/user/{m.props.get('name') or m.name}" in alert_filters
            for m in matching
        ):
            yield matching[0], f"CIS {cis_id}: metric has no alert policy"


@SECTION.stack_control(
    "dns-logging", ["CIS GCP 2.12 (v5 2.13)"], "Cloud DNS logging on every VPC", NETWORK, DNS_POLICY
)
def dns_logging(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    logged = " ".join(
        json.dumps(r.props.get("networks") or [])
        for r in resources
        if r.type == DNS_POLICY and r.props.get("enableLogging") is True
    )
    for network in (r for r in resources if r.type == NETWORK):
        name = str(network.props.get("name") or network.name)
        if f'/{name}"' not in logged and f"/{name}/" not in logged:
            yield network, f"VPC {name} has no DNS policy with enableLogging"


@SECTION.stack_control(
    "asset-inventory-enabled",
    ["CIS GCP 2.13 (v5 2.14)"],
    "Cloud Asset Inventory is enabled",
    SERVICE,
)
def asset_inventory(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    if not any(
        r.type == SERVICE and r.props.get("service") == "cloudasset.googleapis.com"
        for r in resources
    ):
        yield None, "cloudasset.googleapis.com is not enabled"
