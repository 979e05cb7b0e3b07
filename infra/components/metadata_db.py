"""Metadata DB: Cloud SQL for PostgreSQL, private IP only, IAM database authentication."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import pulumi
import pulumi_random as random
from pulumi_gcp import projects, sql

from infra.components import child_options

# CIS GCP 6.2.x logging flags of PostgreSQL, plus IAM database authentication (CIS v5 6.6).
POSTGRES_FLAGS: dict[str, str] = {
    "cloudsql.iam_authentication": "on",
    "log_error_verbosity": "default",
    "log_connections": "on",
    "log_disconnections": "on",
    "log_statement": "ddl",
    "log_min_messages": "warning",
    "log_min_error_statement": "error",
    "log_min_duration_statement": "-1",
    "log_checkpoints": "on",
    "log_lock_waits": "on",
    "cloudsql.enable_pgaudit": "on",
    "pgaudit.log": "ddl,role",
}
# CIS GCP 6.1.2 / 6.1.3 for MySQL, plus IAM database authentication.
MYSQL_FLAGS: dict[str, str] = {
    "cloudsql_iam_authentication": "on",
    "skip_show_database": "on",
    "local_infile": "off",
}
# Connectors present an ephemeral client certificate, so the strictest SSL mode still works.
SSL_MODE = "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"


def iam_database_user(email: str) -> str:
    """The database user name Cloud SQL derives from a service-account email (PostgreSQL)."""
    return email.removesuffix(".gserviceaccount.com")


@dataclass(frozen=True)
class PrivateInstanceArgs:
    """Inputs of :func:`private_instance`: what a hardened Cloud SQL instance needs."""

    instance_name: str
    """Instance name (unique in the project, not reusable for a week after deletion)."""
    database_version: str
    """``POSTGRES_17``, ``MYSQL_8_0`` ..."""
    region: str
    """Region of the instance."""
    network: pulumi.Input[str]
    """VPC that reaches the instance over private service access."""
    tier: str
    """Machine tier (custom tiers need the ENTERPRISE edition)."""
    availability: str = "REGIONAL"
    """``REGIONAL`` keeps a standby in another zone; ``ZONAL`` does not."""
    disk_size_gb: int = 20
    """Initial disk size; the disk grows automatically."""
    retained_backups: int = 14
    """Automated backups kept."""
    transaction_log_days: int = 7
    """Point-in-time recovery window in days."""
    flags: Mapping[str, str] = field(default_factory=dict)
    """Database flags."""
    kms_key: pulumi.Input[str] | None = None
    """Cloud KMS key (CMEK); ``None`` uses Google-managed keys."""
    labels: dict[str, str] = field(default_factory=dict)
    """User labels of the instance."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources that must exist first (the private service connection, the key grant)."""


def private_instance(
    name: str,
    args: PrivateInstanceArgs,
    opts: pulumi.ResourceOptions,
) -> sql.DatabaseInstance:
    """A Cloud SQL instance reachable only privately, through connectors, with backups and PITR."""
    mysql = args.database_version.startswith("MYSQL")
    root_password = (
        # CIS GCP 6.1.1: MySQL's root account has a password nobody needs to know (logins use IAM).
        random.RandomPassword(
            f"{name}-root-password",
            length=32,
            special=False,
            opts=opts,
        ).result
        if mysql
        else None
    )
    return sql.DatabaseInstance(
        name,
        name=args.instance_name,
        root_password=root_password,
        database_version=args.database_version,
        region=args.region,
        encryption_key_name=args.kms_key,
        # Two switches: Pulumi refuses to delete, and so does the Cloud SQL API (CIS v5 6.9).
        deletion_protection=True,
        settings=sql.DatabaseInstanceSettingsArgs(
            tier=args.tier,
            # Custom tiers exist only in ENTERPRISE (PostgreSQL 16+ defaults to ENTERPRISE_PLUS).
            edition="ENTERPRISE",
            availability_type=args.availability,
            disk_size=args.disk_size_gb,
            disk_autoresize=True,
            disk_type="PD_SSD",
            deletion_protection_enabled=True,
            # Only the Cloud SQL connectors and Auth Proxy may connect (IAM-checked, TLS).
            connector_enforcement="REQUIRED",
            ip_configuration=sql.DatabaseInstanceSettingsIpConfigurationArgs(
                ipv4_enabled=False,
                private_network=args.network,
                ssl_mode=SSL_MODE,
                enable_private_path_for_google_cloud_services=True,
            ),
            backup_configuration=sql.DatabaseInstanceSettingsBackupConfigurationArgs(
                enabled=True,
                start_time="02:00",
                # PITR is required for REGIONAL availability and for restoring a bad migration.
                point_in_time_recovery_enabled=args.database_version.startswith("POSTGRES"),
                binary_log_enabled=args.database_version.startswith("MYSQL") or None,
                transaction_log_retention_days=args.transaction_log_days,
                backup_retention_settings=sql.DatabaseInstanceSettingsBackupConfigurationBackupRetentionSettingsArgs(
                    retained_backups=args.retained_backups, retention_unit="COUNT"
                ),
            ),
            # Keep the backups when the instance itself is deleted.
            retain_backups_on_delete=True,
            database_flags=[
                sql.DatabaseInstanceSettingsDatabaseFlagArgs(name=flag, value=value)
                for flag, value in args.flags.items()
            ],
            insights_config=sql.DatabaseInstanceSettingsInsightsConfigArgs(
                query_insights_enabled=True,
                query_string_length=1024,
                record_application_tags=True,
                record_client_address=False,
            ),
            maintenance_window=sql.DatabaseInstanceSettingsMaintenanceWindowArgs(
                day=7, hour=3, update_track="stable"
            ),
            user_labels=args.labels,
        ),
        # What the component waits for (its APIs), and private service access.
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=list(args.depends_on))
        ),
    )


def instance_condition(project: str, instance: str) -> projects.IAMMemberConditionArgs:
    """An IAM condition that limits a Cloud SQL project role to one instance."""
    return projects.IAMMemberConditionArgs(
        title=f"only-{instance}",
        description=f"Cloud SQL instance {instance} only",
        expression=(
            f'resource.name == "projects/{project}/instances/{instance}" '
            '&& resource.service == "sqladmin.googleapis.com"'
        ),
    )


@dataclass(frozen=True)
class MetadataDbArgs:
    """Inputs of :class:`MetadataDb`."""

    project: str
    """Project of the instance."""
    instance: PrivateInstanceArgs
    """The hardened instance (its flags are completed with :data:`POSTGRES_FLAGS`)."""
    iam_users: Mapping[str, pulumi.Input[str]]
    """Workload → service-account email that logs in with IAM database authentication."""
    database: str = "mlops"
    """Name of the kit's database."""
    schema_owner: str = "pipeline_runner"
    """Workload whose database user owns the kit's schema (runs ``mlops-kit db upgrade``)."""


class MetadataDb(pulumi.ComponentResource):
    """The kit's metadata (versions, lineage, aliases, history) on Cloud SQL for PostgreSQL."""

    connection_name: pulumi.Output[str]
    database: pulumi.Output[str]
    iam_users: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: MetadataDbArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops-kit:gcp:MetadataDb", name, None, opts)
        child = child_options(self, opts)
        settings = args.instance
        instance = private_instance(
            f"{name}-instance",
            replace(settings, flags={**POSTGRES_FLAGS, **settings.flags}),
            child,
        )
        database = sql.Database(
            f"{name}-database",
            name=args.database,
            instance=instance.name,
            # The database holds the registry's history: never dropped by `pulumi destroy`.
            deletion_policy="ABANDON",
            opts=child,
        )
        self.iam_users = {}
        for workload, email in sorted(args.iam_users.items()):
            slug = workload.replace("_", "-")
            user = sql.User(
                f"{name}-{slug}",
                instance=instance.name,
                name=pulumi.Output.from_input(email).apply(iam_database_user),
                type="CLOUD_IAM_SERVICE_ACCOUNT",
                # IAM users start without privileges; the schema owner runs the kit's migrations
                # (PostgreSQL 15+ grants nobody CREATE on the public schema).
                database_roles=["cloudsqlsuperuser"] if workload == args.schema_owner else None,
                opts=child,
            )
            self.iam_users[workload] = user.name
            # Cloud SQL has no instance-level IAM: project roles, conditioned on this instance.
            for role in ("roles/cloudsql.client", "roles/cloudsql.instanceUser"):
                projects.IAMMember(
                    f"{name}-{slug}-{role.split('.')[-1].lower()}",
                    project=args.project,
                    role=role,
                    member=pulumi.Output.concat("serviceAccount:", email),
                    condition=instance_condition(args.project, settings.instance_name),
                    opts=child,
                )
        self.connection_name = instance.connection_name
        self.database = database.name
        self.register_outputs(
            {
                "connection_name": self.connection_name,
                "database": self.database,
                "iam_users": self.iam_users,
            }
        )
