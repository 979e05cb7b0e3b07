"""Encryption: one Cloud KMS key per service, rotated, protected, usable only by that service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
from pulumi_gcp import bigquery, kms, projects, storage

from infra.components import child_options

# Each key is used by one Google service agent. Google creates agents lazily, so the grant must
# follow whatever creates the agent: BigQuery's and Cloud Storage's own lookups (calling them
# creates the agent), or a ServiceIdentity for the others, as Google's Cloud Foundation Fabric does.
IDENTITY_SERVICES: dict[str, str] = {
    "sql": "sqladmin.googleapis.com",
    "gke": "container.googleapis.com",
    "disks": "compute.googleapis.com",
    "artifacts": "artifactregistry.googleapis.com",
    "vertex": "aiplatform.googleapis.com",
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
    locations: Mapping[str, str]
    """Service (``bigquery``, ``storage``, ``sql``, ``gke``, ``disks``, ``artifacts``, ``vertex``) →
    location
    of the data it encrypts; a key must live in the same location (``EU`` data needs a key in
    ``europe``)."""
    rotation_days: int = 90
    """Rotation period of every key; CIS GCP 1.10 allows at most 90 days."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of the keys."""


class Encryption(pulumi.ComponentResource):
    """Customer-managed keys (CMEK) for BigQuery, GCS, Cloud SQL, GKE secrets, node disks, Artifact
    Registry and the Vertex AI endpoint."""

    keys: dict[str, pulumi.Output[str]]
    key_rings: dict[str, pulumi.Output[str]]
    """Cloud KMS location → id of the environment's key ring there (other keys join it)."""

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
            grant = kms.CryptoKeyIAMMember(
                f"{name}-{service}-agent",
                crypto_key_id=key.id,
                role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
                member=pulumi.Output.concat(
                    "serviceAccount:", self._agent(name, service, args, opts)
                ),
                opts=child,
            )
            # Consumers of the key get its id through the grant: they wait until the service may
            # use the key, or their creation fails on a new project.
            self.keys[service] = pulumi.Output.all(key.id, grant.id).apply(lambda ids: str(ids[0]))
        self.key_rings = {location: ring.id for location, ring in rings.items()}
        self.register_outputs({"keys": self.keys, "key_rings": self.key_rings})

    def _agent(
        self, name: str, service: str, args: EncryptionArgs, opts: pulumi.ResourceOptions | None
    ) -> pulumi.Output[str]:
        """The email of the service agent that uses ``service``'s key, once the agent exists."""
        # Lookups call the service's API: they wait for the APIs the component waits for.
        after_apis = pulumi.InvokeOutputOptions(
            depends_on=opts.depends_on if opts is not None else None
        )
        if service == "bigquery":
            return bigquery.get_default_service_account_output(
                project=args.project, opts=after_apis
            ).email
        if service == "storage":
            return storage.get_project_service_account_output(
                project=args.project, opts=after_apis
            ).email_address
        identity = projects.ServiceIdentity(
            f"{name}-{service}-agent",
            project=args.project,
            service=IDENTITY_SERVICES[service],
            opts=child_options(self, opts),
        )
        return identity.email
