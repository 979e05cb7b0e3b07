"""Monthly cost drivers of an environment: ``python -m infra.costs --env ENV`` (``infra audit --costs``).

What the stack configuration makes the bill depend on, read from the resources its program declares
(the same mock evaluation as the audit): Cloud SQL tiers and availability, GKE clusters and node
pools, BigQuery storage and queries, log volume, storage, keys and the budget. Each row says what
the environment declares and what Google bills it by; prices are Google's and change, so an
estimate in money comes from a pricing tool (Infracost reads ``mlops-kit infra export``).

Exit status: 0 printed, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from infra.audit import inventory, render_table
from infra.config import StackConfigError
from infra.evaluate import PROJECT_ROOT, Evaluation, UnknownEnvironmentError, evaluate

COLUMNS = ("service", "resource", "driver", "declared", "billed by")
# Largest drivers first, as a reviewer reads the bill.
SERVICES = (
    "Cloud SQL", "GKE", "BigQuery", "Cloud Logging", "Cloud Storage", "Cloud NAT", "Cloud KMS", "Billing",
)  # fmt: skip
Row = dict[str, str]
_Item = Mapping[str, Any]


def _row(service: str, resource: str, driver: str, declared: str, billed_by: str) -> Row:
    return dict(zip(COLUMNS, (service, resource, driver, declared, billed_by), strict=True))


def _get(inputs: _Item, path: str, default: Any = None) -> Any:
    value: Any = inputs
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def _machine(tier: str) -> str:
    """``db-custom-2-7680`` → ``2 vCPU, 7.5 GB``; other tiers as named."""
    match = re.fullmatch(r"db-custom-(\d+)-(\d+)", tier)
    return f"{match[1]} vCPU, {int(match[2]) / 1024:g} GB" if match else tier


def _sql_instance(name: str, i: _Item) -> Iterator[Row]:
    settings = i.get("settings") or {}
    availability = settings.get("availability_type") or "ZONAL"
    tier = str(settings.get("tier"))
    double = " (twice: REGIONAL keeps a standby)" if availability == "REGIONAL" else ""
    yield _row(
        "Cloud SQL",
        name,
        "instance",
        f"{i.get('database_version')} {tier} ({_machine(tier)}), {availability}",
        f"vCPU and memory hours of the tier{double}",
    )
    yield _row(
        "Cloud SQL",
        name,
        "storage",
        f"{settings.get('disk_size', 10)} GB {settings.get('disk_type', 'PD_SSD')}"
        + (", grows automatically" if settings.get("disk_autoresize") else ""),
        f"GB-month of provisioned disk{double}",
    )
    backups = settings.get("backup_configuration") or {}
    if backups.get("enabled"):
        kept = _get(backups, "backup_retention_settings.retained_backups", 7)
        logs = backups.get("transaction_log_retention_days", 7)
        yield _row(
            "Cloud SQL",
            name,
            "backups",
            f"{kept} daily backups, {logs} days of transaction logs",
            "GB-month of backups and logs beyond the instance's disk size",
        )


def _cluster(name: str, i: _Item) -> Iterator[Row]:
    location = str(i.get("location"))
    regional = not re.search(r"-[a-z]$", location)
    yield _row(
        "GKE",
        name,
        "cluster",
        f"{'regional' if regional else 'zonal'} Standard cluster in {location}",
        "cluster management fee per hour (the free tier covers one zonal or Autopilot cluster "
        "per billing account, never a regional one)",
    )


def _node_pool(name: str, i: _Item) -> Iterator[Row]:
    node = i.get("node_config") or {}
    low = _get(i, "autoscaling.min_node_count", i.get("node_count", 1))
    high = _get(i, "autoscaling.max_node_count", low)
    regional = not re.search(r"-[a-z]$", str(i.get("location", "")))
    sandbox = ", GKE Sandbox" if _get(node, "sandbox_config.type") else ""
    yield _row(
        "GKE",
        name,
        "nodes",
        f"{low}-{high} x {node.get('machine_type', 'e2-medium')}"
        + (" per zone" if regional else "")
        + f", {node.get('disk_size_gb', 100)} GB boot disk each{sandbox}",
        "Compute Engine hours of the machine type while nodes run"
        + (
            " (a regional pool runs in every zone of the region, three by default)"
            if regional
            else ""
        ),
    )


def _dataset(name: str, i: _Item) -> Iterator[Row]:
    yield _row(
        "BigQuery",
        str(i.get("dataset_id", name)),
        "storage",
        f"{i.get('location')}, time travel {i.get('max_time_travel_hours', 168)} h",
        "logical GB-month (half price for partitions unchanged 90 days)",
    )


def _tables(items: Sequence[_Item]) -> Iterator[Row]:
    by_dataset: dict[str, list[str]] = {}
    for item in items:
        if item["type"] == "gcp:bigquery/table:Table":
            tables = by_dataset.setdefault(str(item["inputs"].get("dataset_id")), [])
            # Version tables keep every snapshot as a partition that never expires.
            filtered = (
                " (versions: partition filter required, never expire)"
                if item["inputs"].get("require_partition_filter")
                else ""
            )
            tables.append(f"{item['inputs'].get('table_id')}{filtered}")
    for dataset, tables in sorted(by_dataset.items()):
        yield _row(
            "BigQuery",
            dataset,
            "queries",
            ", ".join(tables),
            "on-demand TiB scanned by profiles, diffs and monitoring queries; a partition filter "
            "reads one version or the monitored days, not the whole table",
        )


def _audit_config(name: str, i: _Item) -> Iterator[Row]:
    kinds = [c.get("log_type") for c in i.get("audit_log_configs") or []]
    reads = (
        " (DATA_READ of every service is usually the largest volume)"
        if "DATA_READ" in kinds
        else ""
    )
    yield _row(
        "Cloud Logging",
        name,
        "Data Access audit logs",
        f"{i.get('service')}: {', '.join(map(str, kinds))}",
        f"GiB ingested beyond the free 50 GiB per project and month{reads}",
    )


def _subnet(name: str, i: _Item) -> Iterator[Row]:
    log = i.get("log_config") or {}
    if log:
        yield _row(
            "Cloud Logging",
            name,
            "VPC flow logs",
            f"sampling {log.get('flow_sampling', 0.5)}, {log.get('aggregation_interval', 'INTERVAL_5_SEC')}",
            "GiB of flow logs generated (grows with traffic) and ingested",
        )


def _bucket(name: str, i: _Item) -> Iterator[Row]:
    retention = i.get("retention_policy") or {}
    if retention:
        days = int(retention.get("retention_period", 0)) // 86400
        locked = ", locked" if retention.get("is_locked") else ""
        declared = f"{i.get('location')}, every log entry kept {days} days{locked}"
        driver = "exported logs"
    else:
        ages = [
            f"{_get(rule, 'action.storage_class')} after {_get(rule, 'condition.age')} d"
            for rule in i.get("lifecycle_rules") or []
            if _get(rule, "action.type") == "SetStorageClass"
        ]
        soft = _get(i, "soft_delete_policy.retention_duration_seconds", 604800) // 86400
        declared = f"{i.get('location')} {i.get('storage_class', 'STANDARD')}; " + ", ".join(
            [*ages, f"soft delete {soft} d"]
        )
        driver = "model artifacts"
    yield _row(
        "Cloud Storage",
        str(i.get("name", name)),
        driver,
        declared,
        "GB-month by storage class, noncurrent and soft-deleted objects included; retrieval "
        "fees from NEARLINE and colder",
    )


def _nat(name: str, i: _Item) -> Iterator[Row]:
    yield _row(
        "Cloud NAT",
        name,
        "gateway",
        f"{i.get('nat_ip_allocate_option')} addresses for {i.get('source_subnetwork_ip_ranges_to_nat')}",
        "gateway hours per VM using it and GB processed (image pulls, package downloads)",
    )


def _budget(name: str, i: _Item) -> Iterator[Row]:
    amount = _get(i, "amount.specified_amount", {})
    thresholds = sorted(
        {float(r.get("threshold_percent", 0)) for r in i.get("threshold_rules") or []}
    )
    yield _row(
        "Billing",
        name,
        "monthly budget",
        f"{amount.get('units')} {amount.get('currency_code')}, alerts at "
        + ", ".join(f"{t:.0%}" for t in thresholds),
        "what the drivers above should stay under",
    )


_DRIVERS: dict[str, Callable[[str, _Item], Iterator[Row]]] = {
    "gcp:sql/databaseInstance:DatabaseInstance": _sql_instance,
    "gcp:container/cluster:Cluster": _cluster,
    "gcp:container/nodePool:NodePool": _node_pool,
    "gcp:bigquery/dataset:Dataset": _dataset,
    "gcp:projects/iAMAuditConfig:IAMAuditConfig": _audit_config,
    "gcp:compute/subnetwork:Subnetwork": _subnet,
    "gcp:storage/bucket:Bucket": _bucket,
    "gcp:compute/routerNat:RouterNat": _nat,
    "gcp:billing/budget:Budget": _budget,
}


def _keys(items: Sequence[_Item]) -> Iterator[Row]:
    keys = [i for i in items if i["type"] == "gcp:kms/cryptoKey:CryptoKey"]
    rotating = [k for k in keys if k["inputs"].get("rotation_period")]
    if rotating:
        periods = sorted(
            {int(str(k["inputs"]["rotation_period"]).rstrip("s")) // 86400 for k in rotating}
        )
        yield _row(
            "Cloud KMS",
            f"{len(rotating)} keys",
            "key versions",
            "rotated every " + ", ".join(f"{d} days" for d in periods),
            "active key versions per month (each rotation adds one, kept until destroyed) and "
            "encrypt/decrypt operations",
        )
    signing = [k for k in keys if k["inputs"].get("purpose") == "ASYMMETRIC_SIGN"]
    if signing:
        levels = sorted(
            {
                str(_get(k["inputs"], "version_template.protection_level", "SOFTWARE"))
                for k in signing
            }
        )
        yield _row(
            "Cloud KMS",
            f"{len(signing)} signing key{'s' if len(signing) > 1 else ''} ({', '.join(levels)})",
            "key versions",
            "rotated by hand",
            "active key versions per month (HSM versions cost more) and one signing operation "
            "per image CI attests",
        )


def cost_drivers(evaluation: Evaluation) -> list[Row]:
    """The monthly cost drivers the environment declares, one row per resource and driver."""
    items = inventory(evaluation)
    rows = [
        row
        for item in items
        if item["type"] in _DRIVERS
        for row in _DRIVERS[item["type"]](item["name"], item["inputs"])
    ]
    rows += [*_tables(items), *_keys(items)]
    return sorted(rows, key=lambda row: SERVICES.index(row["service"]))


def render(environment: str, rows: Sequence[Row], fmt: str) -> str | None:
    """The table as JSON or Markdown text; ``None`` for ``table`` (printed with rich)."""
    title = f"Monthly cost drivers of {environment}"
    if fmt == "json":
        return json.dumps({"environment": environment, "cost_drivers": list(rows)}, indent=2)
    return render_table(title, COLUMNS, [[row[c] for c in COLUMNS] for row in rows], fmt)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m infra.costs", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--env", required=True)
    parser.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_ROOT)
    args = parser.parse_args(argv)
    try:
        evaluation = evaluate(args.env, args.project_dir)
    except (UnknownEnvironmentError, StackConfigError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    text = render(evaluation.environment, cost_drivers(evaluation), args.format)
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
