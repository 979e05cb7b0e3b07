"""Encryption: one Cloud KMS key per service, rotated, protected, usable only by that service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
from pulumi_gcp import kms, projects

from infra.components import child_options

# Each key is used by one Google service agent; the agent's address derives from the project number.
SERVICE_AGENTS: dict[str, str] = {
    "bigquery": "bq-{number}@bigquery-encryption.iam.gserviceaccount.com",
    "storage": "service-{number}@gs-project-accounts.iam.gserviceaccount.com",
    "gke": "service-{number}@container-engine-robot.iam.gserviceaccount.com",
    "disks": "service-{number}@compute-system.iam.gserviceaccount.com",
}
# Multi-regions of BigQuery and GCS, and the Cloud KMS location that serves them.
MULTI_REGIONS: dict[str, str] = {"eu": "europe", "us": "us", "asia": "asia"}


def kms_location(location: str) -> str:
    """The Cloud KMS location whose keys can encrypt data stored in ``location``."""
    lowered = location.lower()
    return MULTI_REGIONS.get(lowered, lowered)


@dataclass(frozen=True)
class EncryptionArgs:
    """Inputs of :class:`Encryption`."""

    project: str
    """Project of the key ring."""
    project_number: pulumi.Input[str]
    """Project number (service-agent addresses derive from it)."""
    locations: Mapping[str, str]
    """Service (``bigquery``, ``storage``, ``sql``, ``gke``, ``disks``) → location of the data it
    encrypts; a key must live in the same location (``EU`` data needs a key in ``europe``)."""
    rotation_days: int = 90
    """Rotation period of every key; CIS GCP 1.10 allows at most 90 days."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of the keys."""


class Encryption(pulumi.ComponentResource):
    """Customer-managed keys (CMEK) for BigQuery, GCS, Cloud SQL, GKE secrets and node disks."""

    keys: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: EncryptionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops-kit:gcp:Encryption", name, None, opts)
        child = child_options(self, opts)
        # A key ring cannot be deleted; protecting it states that instead of failing on destroy.
        rings = {
            location: kms.KeyRing(
                f"{name}-keyring-{location}",
                name=f"{name}-keyring-{location}",
                location=location,
                opts=child_options(self, opts, protect=True),
            )
            for location in sorted({kms_location(loc) for loc in args.locations.values()})
        }
        sql_agent = projects.ServiceIdentity(
            f"{name}-sql-agent", project=args.project, service="sqladmin.googleapis.com", opts=child
        )
        self.keys = {}
        for service, location in args.locations.items():
            key = kms.CryptoKey(
                f"{name}-{service}",
                name=f"{name}-{service}",
                key_ring=rings[kms_location(location)].id,
                rotation_period=f"{args.rotation_days * 86400}s",
                purpose="ENCRYPT_DECRYPT",
                labels=args.labels,
                # Destroying a key destroys every byte encrypted with it.
                opts=child_options(self, opts, protect=True),
            )
            agent: pulumi.Input[str] = (
                sql_agent.email
                if service == "sql"
                else pulumi.Output.format(SERVICE_AGENTS[service], number=args.project_number)
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
