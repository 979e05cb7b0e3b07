"""Warehouse: BigQuery datasets of training-data versions and of prediction logs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_gcp import bigquery

from infra.components import child_options

# The contract with mlops_kit.monitoring.schema (a test compares the two): name, type, mode.
# Every column is NULLABLE: the kit validates rows, and BigQuery then never rejects a batch.
PREDICTION_LOG_SCHEMA: tuple[tuple[str, str, str], ...] = (
    ("logged_at", "TIMESTAMP", "NULLABLE"),
    ("model_name", "STRING", "NULLABLE"),
    ("model_version", "INT64", "NULLABLE"),
    ("request_id", "STRING", "NULLABLE"),
    ("features", "JSON", "NULLABLE"),
    ("prediction", "STRING", "NULLABLE"),
    ("score", "FLOAT64", "NULLABLE"),
)
GROUND_TRUTH_SCHEMA: tuple[tuple[str, str, str], ...] = (
    ("request_id", "STRING", "NULLABLE"),
    ("label", "STRING", "NULLABLE"),
    ("logged_at", "TIMESTAMP", "NULLABLE"),
)


def schema_json(columns: Sequence[tuple[str, str, str]]) -> str:
    """A BigQuery schema as the JSON the ``schema`` argument takes."""
    return json.dumps([{"name": n, "type": t, "mode": m} for n, t, m in columns])


@dataclass(frozen=True)
class WarehouseArgs:
    """Inputs of :class:`Warehouse`."""

    project: str
    """Project of the datasets."""
    dataset_id: str
    """Dataset of training-data versions; the monitoring dataset is ``<dataset_id>_monitoring``."""
    location: str
    """BigQuery location (``EU``, ``US`` or a region)."""
    writers: Sequence[pulumi.Input[str]]
    """Service-account emails that write data versions and ground truth (the pipeline runner)."""
    log_writers: Sequence[pulumi.Input[str]]
    """Service-account emails that append prediction logs (serving)."""
    readers: tuple[str, ...] = ()
    """IAM members (``group:...``, ``serviceAccount:...``) that may read both datasets."""
    version_tables: tuple[str, ...] = ()
    """Version tables to create up front (the kit also creates them on the first snapshot)."""
    kms_key: pulumi.Input[str] | None = None
    """Cloud KMS key of the datasets and tables (CMEK); ``None`` uses Google-managed keys."""
    time_travel_hours: int = 168
    """Time-travel window (48-168 hours): how far back a mistaken write can be undone."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of the datasets and tables."""


def _access(member: str, role: str) -> bigquery.DatasetAccessArgs:
    kind, _, email = member.partition(":")
    if kind == "group":
        return bigquery.DatasetAccessArgs(role=role, group_by_email=email)
    if kind == "domain":
        return bigquery.DatasetAccessArgs(role=role, domain=email)
    return bigquery.DatasetAccessArgs(role=role, user_by_email=email)


class Warehouse(pulumi.ComponentResource):
    """Versioned training data (ingestion-time partitions, never expiring) and prediction logs."""

    dataset_id: pulumi.Output[str]
    monitoring_dataset_id: pulumi.Output[str]
    prediction_log_table: pulumi.Output[str]

    def __init__(
        self, name: str, args: WarehouseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops-kit:gcp:Warehouse", name, None, opts)
        child = child_options(self, opts)
        encryption = (
            bigquery.DatasetDefaultEncryptionConfigurationArgs(kms_key_name=args.kms_key)
            if args.kms_key is not None
            else None
        )
        table_encryption = (
            bigquery.TableEncryptionConfigurationArgs(kms_key_name=args.kms_key)
            if args.kms_key is not None
            else None
        )

        def accesses(
            writers: Sequence[str], extra_writers: Sequence[str] = ()
        ) -> list[bigquery.DatasetAccessArgs]:
            # Authoritative: only project owners, the named readers and the kit's accounts.
            return [
                bigquery.DatasetAccessArgs(role="OWNER", special_group="projectOwners"),
                *(_access(member, "READER") for member in args.readers),
                *(_access(f"serviceAccount:{e}", "WRITER") for e in [*writers, *extra_writers]),
            ]

        writers: pulumi.Output[list[str]] = pulumi.Output.all(*args.writers)
        log_writers: pulumi.Output[list[str]] = pulumi.Output.all(*args.log_writers)

        def dataset(
            suffix: str,
            dataset_id: str,
            description: str,
            access: pulumi.Output[list[bigquery.DatasetAccessArgs]],
        ) -> bigquery.Dataset:
            # Both datasets are kept alike: the stack's key, time travel and labels, contents
            # never destroyed with the stack.
            return bigquery.Dataset(
                f"{name}-{suffix}",
                dataset_id=dataset_id,
                project=args.project,
                location=args.location,
                description=description,
                # No default table or partition expiration: an expiry silently deletes old versions.
                default_encryption_configuration=encryption,
                max_time_travel_hours=str(args.time_travel_hours),
                delete_contents_on_destroy=False,
                accesses=access,
                labels=args.labels,
                opts=child,
            )

        def table(
            dataset: bigquery.Dataset,
            table_id: str,
            description: str,
            partition_field: str | None,
            schema: Sequence[tuple[str, str, str]] | None = None,
            clusterings: Sequence[str] | None = None,
            require_partition_filter: bool | None = None,
        ) -> bigquery.Table:
            # Every table is kept alike: daily partitions that never expire, the stack's key,
            # deletion protection and labels.
            return bigquery.Table(
                f"{name}-{table_id.replace('_', '-')}",
                project=args.project,
                dataset_id=dataset.dataset_id,
                table_id=table_id,
                description=description,
                schema=schema_json(schema) if schema is not None else None,
                time_partitioning=bigquery.TableTimePartitioningArgs(
                    type="DAY", field=partition_field
                ),
                clusterings=clusterings,
                require_partition_filter=require_partition_filter,
                encryption_configuration=table_encryption,
                deletion_protection=True,
                labels=args.labels,
                opts=child,
            )

        self.dataset = dataset(
            "data",
            args.dataset_id,
            "Versioned training data of mlops-kit (one ingestion-time partition per version).",
            writers.apply(accesses),
        )
        for version_table in args.version_tables:
            table(
                self.dataset,
                version_table,
                f"Versions of dataset {version_table}: one ingestion-time partition per version.",
                # Ingestion-time partitioning (no field): a partition is a version.
                partition_field=None,
                require_partition_filter=True,
            )

        self.monitoring = dataset(
            "monitoring",
            f"{args.dataset_id}_monitoring",
            "Prediction logs and ground truth of mlops-kit's performance monitoring.",
            pulumi.Output.all(writers, log_writers).apply(lambda both: accesses(both[0], both[1])),
        )
        prediction_log = table(
            self.monitoring,
            "prediction_log",
            "One row per served prediction.",
            partition_field="logged_at",
            schema=PREDICTION_LOG_SCHEMA,
            # Monitoring reads one model's recent predictions: cluster on what it filters by.
            clusterings=["model_name", "model_version"],
        )
        table(
            self.monitoring,
            "ground_truth",
            "Labels that arrive after the prediction, joined on request_id.",
            partition_field="logged_at",
            schema=GROUND_TRUTH_SCHEMA,
        )

        self.dataset_id = self.dataset.dataset_id
        self.monitoring_dataset_id = self.monitoring.dataset_id
        self.prediction_log_table = pulumi.Output.concat(
            args.project, ".", self.monitoring.dataset_id, ".", prediction_log.table_id
        )
        self.register_outputs(
            {
                "dataset_id": self.dataset_id,
                "monitoring_dataset_id": self.monitoring_dataset_id,
                "prediction_log_table": self.prediction_log_table,
            }
        )
