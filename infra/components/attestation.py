"""Attestation: the Binary Authorization attestor that vouches for images CI built, and its key.

CI builds a project's image, then signs an attestation for the image's digest with an asymmetric
Cloud KMS key; the cluster's admission policy (:mod:`infra.components.cluster`) admits an image
only with such an attestation. The attestor is a Container Analysis note (where attestations are
stored as occurrences) plus the public half of the key (with which Binary Authorization verifies
them). The signer may sign with this key alone and attach occurrences to this note alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
from pulumi_gcp import binaryauthorization, containeranalysis, kms, projects

from infra.components import child_options
from infra.policies.controls.iam import MANUAL_ROTATION

SIGNING_ALGORITHM = "EC_SIGN_P256_SHA256"
"""ECDSA P-256: what ``gcloud ... attestations sign-and-create`` and Binary Authorization accept."""
SIGNING_KEY_VERSION = 1
"""The key version the attestor trusts: the first, created with the key. A manual rotation adds
a version and raises this (README, "Rotating the attestor's key")."""
SIGNER_ROLES = {
    "key": "roles/cloudkms.signerVerifier",
    "note": "roles/containeranalysis.notes.attacher",
    # sign-and-create reads the attestor to find its note and check the key is one of its own.
    "attestor": "roles/binaryauthorization.attestorsViewer",
}
# An attestation is an occurrence of the project (no narrower scope exists). Google's role for
# creating one (containeranalysis.occurrences.editor) may also rewrite or delete any occurrence,
# another signer's attestations included: the signer gets creation alone.
OCCURRENCE_PERMISSIONS = ("containeranalysis.occurrences.create",)


@dataclass(frozen=True)
class AttestationArgs:
    """Inputs of :class:`Attestation`."""

    project: str
    """Project of the note, the attestor and the attestations."""
    region: str
    """Cloud KMS location of the signing key."""
    signers: Mapping[str, pulumi.Input[str]]
    """Workload → IAM member that signs attestations (the deployer, in CI)."""
    key_ring: pulumi.Input[str] | None = None
    """The environment's key ring in ``region``; ``None`` (a stack without CMEK has none)
    creates one for the signing key."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of the key."""


class Attestation(pulumi.ComponentResource):
    """A KMS signing key, a Container Analysis note and the attestor over both."""

    attestor: pulumi.Output[str]
    """``projects/PROJECT/attestors/NAME``: what the admission policy requires and CI signs as."""
    key_version: pulumi.Output[str]
    """``projects/.../cryptoKeys/NAME/cryptoKeyVersions/N``: the version CI signs with."""

    def __init__(
        self, name: str, args: AttestationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops-kit:gcp:Attestation", name, None, opts)
        child = child_options(self, opts)
        key_ring = args.key_ring
        if key_ring is None:
            # A key ring cannot be deleted; protecting it states that instead of failing on destroy.
            key_ring = kms.KeyRing(
                f"{name}-keyring-attestor",
                name=f"{name}-keyring-attestor",
                location=args.region,
                opts=child_options(self, opts, protect=True),
            ).id
        key = kms.CryptoKey(
            f"{name}-attestor",
            name=f"{name}-attestor",
            key_ring=key_ring,
            purpose="ASYMMETRIC_SIGN",
            # Google refuses a rotation period on asymmetric keys: a new version must be added
            # to the attestor before CI signs with it, so rotation is a documented manual step.
            version_template=kms.CryptoKeyVersionTemplateArgs(
                algorithm=SIGNING_ALGORITHM, protection_level="HSM"
            ),
            labels={**args.labels, MANUAL_ROTATION[0]: MANUAL_ROTATION[1]},
            # Destroying the key makes every attestation it signed unverifiable.
            opts=child_options(self, opts, protect=True),
        )
        version = kms.get_kms_crypto_key_version_output(
            crypto_key=key.id,
            version=SIGNING_KEY_VERSION,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        note = containeranalysis.Note(
            f"{name}-built-by-ci",
            name=f"{name}-built-by-ci",
            project=args.project,
            attestation_authority=containeranalysis.NoteAttestationAuthorityArgs(
                hint=containeranalysis.NoteAttestationAuthorityHintArgs(
                    human_readable_name=f"{name}: built and pushed by CI"
                )
            ),
            opts=child,
        )
        attestor = binaryauthorization.Attestor(
            f"{name}-built-by-ci",
            name=f"{name}-built-by-ci",
            project=args.project,
            description="Images built by the environment's CI from a reviewed commit",
            attestation_authority_note=binaryauthorization.AttestorAttestationAuthorityNoteArgs(
                note_reference=note.name,
                public_keys=[
                    binaryauthorization.AttestorAttestationAuthorityNotePublicKeyArgs(
                        id=version.id,
                        pkix_public_key=binaryauthorization.AttestorAttestationAuthorityNotePublicKeyPkixPublicKeyArgs(
                            public_key_pem=version.public_keys[0].pem,
                            signature_algorithm=version.public_keys[0].algorithm,
                        ),
                    )
                ],
            ),
            opts=child,
        )
        writer = projects.IAMCustomRole(
            f"{name}-attestation-writer",
            project=args.project,
            role_id=f"{name.replace('-', '_')}_attestation_writer",
            title=f"{name}: record attestations",
            description="Create attestations (occurrences); never change or delete one",
            permissions=list(OCCURRENCE_PERMISSIONS),
            opts=child,
        )
        for workload, member in sorted(args.signers.items()):
            projects.IAMMember(
                f"{name}-{workload}-records-attestations",
                project=args.project,
                role=writer.name,
                member=member,
                opts=child,
            )
            kms.CryptoKeyIAMMember(
                f"{name}-attestor-{workload}-signs",
                crypto_key_id=key.id,
                role=SIGNER_ROLES["key"],
                member=member,
                opts=child,
            )
            containeranalysis.NoteIamMember(
                f"{name}-built-by-ci-{workload}-attaches",
                project=args.project,
                note=note.name,
                role=SIGNER_ROLES["note"],
                member=member,
                opts=child,
            )
            binaryauthorization.AttestorIamMember(
                f"{name}-built-by-ci-{workload}-views",
                project=args.project,
                attestor=attestor.name,
                role=SIGNER_ROLES["attestor"],
                member=member,
                opts=child,
            )
        self.attestor = attestor.id
        self.key_version = version.name
        self.register_outputs({"attestor": self.attestor, "key_version": self.key_version})
