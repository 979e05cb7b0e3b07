"""CIS GCP section 6: Cloud SQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from infra.addresses import is_public, parse_network
from infra.policies.controls.registry import Control, Section, Setting
from infra.policies.controls.resources import (
    SQL_INSTANCE,
    Resource,
    get,
)

SECTION = Section("CIS GCP 6: Cloud SQL")

SECTION.settings(
    Setting(
        "sql-ssl-required",
        ["CIS GCP 6.4"],
        "SSL required for all incoming connections",
        SQL_INSTANCE,
        "settings.ipConfiguration.sslMode",
        one_of=("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"),
        problem="sslMode is {value!r}: unencrypted connections are accepted",
    ),
    Setting(
        "sql-connector-enforcement",
        ["hardening"],
        "Only Cloud SQL connectors may connect",
        SQL_INSTANCE,
        "settings.connectorEnforcement",
        must_be="REQUIRED",
        problem="connectorEnforcement is not REQUIRED: direct connections bypass IAM",
    ),
    Setting(
        "sql-cmek",
        ["hardening (CMEK)"],
        "Instances encrypted with customer-managed keys",
        SQL_INSTANCE,
        "encryptionKeyName",
        problem="no encryptionKeyName: data and backups use Google-managed keys (CMEK)",
    ),
)


def _flags(resource: Resource) -> dict[str, str]:
    return {
        str(f.get("name")): str(f.get("value"))
        for f in get(resource.props, "settings.databaseFlags", []) or []
    }


def _engine(resource: Resource) -> str:
    return str(resource.props.get("databaseVersion") or "").split("_")[0]


def _flag_control(
    id_: str, cis: str, engine: str, flag: str, allowed: Sequence[str], default_ok: bool
) -> None:
    def check(resource: Resource) -> Iterator[str]:
        if _engine(resource) != engine:
            return
        value = _flags(resource).get(flag)
        if value is None:
            if not default_ok:
                yield f"database flag {flag} is not set (Cloud SQL's default is insecure)"
        elif value.lower() not in allowed:
            yield f"database flag {flag}={value}, expected one of {', '.join(allowed)}"

    check.__name__ = id_.replace("-", "_")
    check.__doc__ = f"{cis}: {engine} flag {flag} in {allowed}."
    SECTION.add(
        Control(
            id_, (cis,), f"{engine} flag {flag} set to {'/'.join(allowed)}", (SQL_INSTANCE,), check
        )
    )


for _args in (
    (
        "sql-pg-log-error-verbosity",
        "CIS GCP 6.2.1",
        "POSTGRES",
        "log_error_verbosity",
        ("default", "terse"),
        True,
    ),
    ("sql-pg-log-connections", "CIS GCP 6.2.2", "POSTGRES", "log_connections", ("on",), False),
    (
        "sql-pg-log-disconnections",
        "CIS GCP 6.2.3",
        "POSTGRES",
        "log_disconnections",
        ("on",),
        False,
    ),
    (
        "sql-pg-log-statement",
        "CIS GCP 6.2.4",
        "POSTGRES",
        "log_statement",
        ("ddl", "mod", "all"),
        False,
    ),
    (
        "sql-pg-log-min-messages",
        "CIS GCP 6.2.5",
        "POSTGRES",
        "log_min_messages",
        ("warning", "error", "log", "fatal", "panic"),
        True,
    ),
    (
        "sql-pg-log-min-error-statement",
        "CIS GCP 6.2.6",
        "POSTGRES",
        "log_min_error_statement",
        ("error", "log", "fatal", "panic"),
        True,
    ),
    (
        "sql-pg-log-min-duration-statement",
        "CIS GCP 6.2.7",
        "POSTGRES",
        "log_min_duration_statement",
        ("-1",),
        True,
    ),
    ("sql-pg-pgaudit", "CIS GCP 6.2.8", "POSTGRES", "cloudsql.enable_pgaudit", ("on",), False),
    (
        "sql-mysql-skip-show-database",
        "CIS GCP 6.1.2",
        "MYSQL",
        "skip_show_database",
        ("on",),
        False,
    ),
    ("sql-mysql-local-infile", "CIS GCP 6.1.3", "MYSQL", "local_infile", ("off",), False),
    ("sql-pg-log-checkpoints", "checkov CKV_GCP_51", "POSTGRES", "log_checkpoints", ("on",), False),
    ("sql-pg-log-lock-waits", "checkov CKV_GCP_54", "POSTGRES", "log_lock_waits", ("on",), False),
):
    _flag_control(*_args)


@SECTION.resource_control(
    "sql-no-open-authorized-networks",
    ["CIS GCP 6.5"],
    "No 0.0.0.0/0 authorized network",
    SQL_INSTANCE,
)
def sql_no_open_networks(resource: Resource) -> Iterator[str]:
    for network in get(resource.props, "settings.ipConfiguration.authorizedNetworks", []) or []:
        value = str(network.get("value", ""))
        if parse_network(value) is None:
            yield f"authorized network {value!r} is not a CIDR range"
        elif is_public(value):
            # Compared as networks: 0.0.0.0/1 or any public range opens it like 0.0.0.0/0.
            yield f"authorized network {value} is a public range: it opens the instance"


@SECTION.resource_control(
    "sql-iam-authentication", ["CIS GCP v5 6.6"], "IAM database authentication", SQL_INSTANCE
)
def sql_iam_authentication(resource: Resource) -> Iterator[str]:
    flag = (
        "cloudsql.iam_authentication"
        if _engine(resource) == "POSTGRES"
        else "cloudsql_iam_authentication"
    )
    if _engine(resource) in ("POSTGRES", "MYSQL") and _flags(resource).get(flag) != "on":
        yield f"database flag {flag} is not on: logins need passwords"


@SECTION.resource_control(
    "sql-no-public-ip", ["CIS GCP 6.6 (v5 6.7)"], "No public IP", SQL_INSTANCE
)
def sql_no_public_ip(resource: Resource) -> Iterator[str]:
    # The API's default is a public IP: only an explicit false passes.
    if get(resource.props, "settings.ipConfiguration.ipv4Enabled") is not False:
        yield "public IPv4 address enabled (ipv4Enabled is not false)"
    if not get(resource.props, "settings.ipConfiguration.privateNetwork"):
        yield "no privateNetwork: the instance has no private IP"


@SECTION.resource_control(
    "sql-backups",
    ["CIS GCP 6.7 (v5 6.8)"],
    "Automated backups with point-in-time recovery",
    SQL_INSTANCE,
)
def sql_backups(resource: Resource) -> Iterator[str]:
    backup = get(resource.props, "settings.backupConfiguration", {})
    if backup.get("enabled") is not True:
        yield "automated backups are off"
        return
    pitr = "pointInTimeRecoveryEnabled" if _engine(resource) == "POSTGRES" else "binaryLogEnabled"
    if backup.get(pitr) is not True:
        yield f"{pitr} is off: no point-in-time recovery"
    retained = get(backup, "backupRetentionSettings.retainedBackups", 7)
    if float(retained) < 7:
        yield f"only {retained} backups retained (at least 7)"


@SECTION.resource_control(
    "sql-deletion-protection",
    ["CIS GCP v5 6.9"],
    "Both deletion protections (Pulumi and Cloud SQL API)",
    SQL_INSTANCE,
)
def sql_deletion_protection(resource: Resource) -> Iterator[str]:
    if resource.props.get("deletionProtection") is False:
        yield "deletionProtection=false: `pulumi destroy` deletes the instance"
    if get(resource.props, "settings.deletionProtectionEnabled") is not True:
        yield "settings.deletionProtectionEnabled is off: the API (console, gcloud) can delete it"


@SECTION.resource_control(
    "sql-mysql-root-password",
    ["CIS GCP 6.1.1"],
    "MySQL instances have a root password",
    SQL_INSTANCE,
)
def sql_mysql_root_password(resource: Resource) -> Iterator[str]:
    # A MySQL instance created without one lets 'root'@'%' log in without a password.
    if _engine(resource) == "MYSQL" and not resource.props.get("rootPassword"):
        yield "no rootPassword: root can log in without a password"
