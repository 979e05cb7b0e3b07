"""Encryption: one Cloud KMS key per service, rotated, protected, usable only by that service."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
from pulumi_gcp import kms, projects

# Each key is used by one Google service agent; the agent's address derives from the project number.
SERVICE_AGENTS: dict[str, str] = {
    "bigquery": "bq-{number}@bigquery-encryption.iam.gserviceaccount.com",
    "storage": "service-{number}@gs-project-accounts.iam.gserviceaccount.com",
    "gke": "service-{number}@container-engine-robot.iam.gserviceaccount.com",
    "disks": "service-{number}@compute-system.iam.gserviceaccount.com",
}


@dataclass(frozen=True)
class EncryptionArgs:
    """Inputs of :class:`Encryption`."""

    project: str
    """Project of the key ring."""
    project_number: pulumi.Input[str]
    """Project number (service-agent addresses derive from it)."""
    location: str
    """Key ring location; must match the region of the resources it encrypts."""
    rotation_days: int = 90
    """Rotation period of every key; CIS GCP 1.10 allows at most 90 days."""
    services: tuple[str, ...] = ("bigquery", "storage", "sql", "gke", "disks")
    """Services that get a key of their own."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of the keys."""


class Encryption(pulumi.ComponentResource):
    """Customer-managed keys (CMEK) for BigQuery, GCS, Cloud SQL, GKE secrets and node disks."""

    keys: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: EncryptionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops-kit:gcp:Encryption", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # A key ring cannot be deleted; protecting it states that instead of failing on destroy.
        ring = kms.KeyRing(
            f"{name}-keyring",
            name=f"{name}-keyring",
            location=args.location,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        sql_agent = projects.ServiceIdentity(
            f"{name}-sql-agent", project=args.project, service="sqladmin.googleapis.com", opts=child
        )
        self.keys = {}
        for service in args.services:
            key = kms.CryptoKey(
                f"{name}-{service}",
                name=f"{name}-{service}",
                key_ring=ring.id,
                rotation_period=f"{args.rotation_days * 86400}s",
                purpose="ENCRYPT_DECRYPT",
                labels=args.labels,
                # Destroying a key destroys every byte encrypted with it.
                opts=pulumi.ResourceOptions(parent=self, protect=True),
            )
            agent: pulumi.Input[str] = (
                sql_agent.email
                if service == "sql"
                else pulumi.Output.from_input(args.project_number).apply(
                    lambda number, s=service: SERVICE_AGENTS[s].format(number=number)
                )
            )
            kms.CryptoKeyIAMMember(
                f"{name}-{service}-agent",
                crypto_key_id=key.id,
                role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
                member=pulumi.Output.concat("serviceAccount:", agent),
                opts=child,
            )
            self.keys[service] = key.id
        self.register_outputs({"keys": self.keys})
