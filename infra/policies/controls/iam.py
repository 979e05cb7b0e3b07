"""CIS GCP section 1: Identity and Access Management, and Cloud KMS."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from infra.policies.controls.registry import Section
from infra.policies.controls.resources import (
    BASIC_ROLES,
    CRYPTO_KEY,
    KMS_IAM,
    PROJECT_IAM,
    SA_KEY,
    WIF_PROVIDER,
    Resource,
    get,
    iam_entries,
    public_grants,
)

SECTION = Section("CIS GCP 1: IAM and KMS")


@SECTION.resource_control(
    "iam-no-service-account-keys",
    ["CIS GCP 1.4 (v5 1.5)"],
    "Only Google-managed service-account keys",
    SA_KEY,
)
def no_service_account_keys(resource: Resource) -> Iterator[str]:
    yield "user-managed service-account key declared: use Workload Identity or impersonation"


ADMIN_ROLE = re.compile(r"(admin|Admin)$|^roles/(editor|owner)$")


@SECTION.resource_control(
    "iam-service-account-not-admin",
    ["CIS GCP 1.5 (v5 1.6)"],
    "Service accounts hold no admin roles on the project",
    *PROJECT_IAM,
)
def service_account_not_admin(resource: Resource) -> Iterator[str]:
    for member, role in iam_entries(resource):
        if member.startswith("serviceAccount:") and ADMIN_ROLE.search(role):
            yield f"{member} gets admin role {role} on the project"


@SECTION.resource_control(
    "iam-no-project-sa-user",
    ["CIS GCP 1.6 (v5 1.7)"],
    "No Service Account User / Token Creator at project level",
    *PROJECT_IAM,
)
def no_project_service_account_user(resource: Resource) -> Iterator[str]:
    for member, role in iam_entries(resource):
        if role in ("roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator"):
            yield f"{member} gets {role} on the whole project: grant it on one service account"


def _separation_control(id_: str, cis: str, title: str, first: str, second: str) -> None:
    """Register a stack control: no principal holds both ``first`` and ``second`` on the project."""

    @SECTION.stack_control(id_, [cis], title, *PROJECT_IAM)
    def check(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
        roles: dict[str, set[str]] = {}
        for resource in resources:
            if resource.type in PROJECT_IAM:
                for member, role in iam_entries(resource):
                    roles.setdefault(member, set()).add(role)
        for member, held in sorted(roles.items()):
            if {first, second} <= held:
                yield None, f"{member} holds both {first} and {second}"


for _args in (
    (
        "iam-separation-of-duties-service-accounts",
        "CIS GCP 1.8 (v5 1.9)",
        "No principal is both Service Account Admin and User",
        "roles/iam.serviceAccountAdmin",
        "roles/iam.serviceAccountUser",
    ),
    (
        "iam-separation-of-duties-kms",
        "CIS GCP 1.11 (v5 1.12)",
        "No principal is both KMS Admin and Encrypter/Decrypter",
        "roles/cloudkms.admin",
        "roles/cloudkms.cryptoKeyEncrypterDecrypter",
    ),
):
    _separation_control(*_args)


@SECTION.resource_control(
    "kms-keys-not-public",
    ["CIS GCP 1.9 (v5 1.10)"],
    "KMS keys are not anonymously or publicly accessible",
    *KMS_IAM,
)
def kms_keys_not_public(resource: Resource) -> Iterator[str]:
    yield from public_grants(resource, "a KMS key")


MANUAL_ROTATION = ("rotation", "manual")
"""The label of a key that cannot rotate by itself and is rotated by hand, as README documents
("Rotating the attestor's key")."""
ROTATING_PURPOSES = frozenset({"ENCRYPT_DECRYPT"})
"""Key purposes Cloud KMS rotates on a schedule; it refuses a rotation period on the others."""


@SECTION.resource_control(
    "kms-key-rotation",
    ["CIS GCP 1.10 (v5 1.11)"],
    "KMS keys rotate at least every 90 days (asymmetric keys: by a documented manual rotation)",
    CRYPTO_KEY,
)
def kms_key_rotation(resource: Resource) -> Iterator[str]:
    purpose = str(resource.props.get("purpose") or "ENCRYPT_DECRYPT")
    period = str(resource.props.get("rotationPeriod") or "")
    if purpose not in ROTATING_PURPOSES:
        # CIS 1.10 is about symmetric keys; an asymmetric one rotates by hand (a new version the
        # attestor trusts), which the key's label says is the documented procedure.
        if period:
            yield f"rotationPeriod {period} on a {purpose} key: Cloud KMS rotates only symmetric keys"
        label = get(resource.props, f"labels.{MANUAL_ROTATION[0]}")
        if label != MANUAL_ROTATION[1]:
            yield (
                f"{purpose} keys cannot rotate automatically and the label "
                f"{MANUAL_ROTATION[0]}={label or '(none)'} does not say it is rotated by hand: "
                f"label it {MANUAL_ROTATION[0]}={MANUAL_ROTATION[1]} and follow README "
                "'Rotating the attestor's key'"
            )
        return
    match = re.fullmatch(r"(\d+(?:\.\d+)?)s", period)
    if match is None:
        yield "no rotationPeriod: keys never rotate (set at most 7776000s)"
    elif not 86400 <= float(match.group(1)) <= 7776000:
        yield f"rotationPeriod {period} is outside 86400s-7776000s (1-90 days)"


@SECTION.resource_control(
    "iam-no-basic-roles",
    ["checkov CKV_GCP_117"],
    "No basic roles (owner, editor, viewer) on the project",
    *PROJECT_IAM,
)
def no_basic_roles(resource: Resource) -> Iterator[str]:
    for member, role in iam_entries(resource):
        if role in BASIC_ROLES:
            yield f"{member} gets basic role {role}: grant predefined roles on the resource"


@SECTION.resource_control(
    "iam-no-default-service-accounts",
    ["checkov CKV_GCP_46"],
    "Default compute/App Engine service accounts get no project roles",
    *PROJECT_IAM,
)
def no_default_service_accounts(resource: Resource) -> Iterator[str]:
    for member, role in iam_entries(resource):
        if member.endswith(
            ("-compute@developer.gserviceaccount.com", "@appspot.gserviceaccount.com")
        ):
            yield f"default service account {member} gets {role}"


@SECTION.resource_control(
    "iam-federation-restricted",
    ["hardening (keyless CI)"],
    "Workload Identity Federation accepts named repositories, and one ref or environment",
    WIF_PROVIDER,
)
def federation_restricted(resource: Resource) -> Iterator[str]:
    condition = str(resource.props.get("attributeCondition") or "")
    if not condition.strip():
        yield "no attributeCondition: every identity of the issuer (any GitHub repository) is accepted"
        return
    if "github" not in str(get(resource.props, "oidc.issuerUri", "")):
        return
    if not re.search(r"assertion\.repository\b", condition):
        yield "the condition does not name repositories (assertion.repository)"
    # Both halves must hold together: an '||' would let any branch of the repository through.
    if "||" in condition or not re.search(r"assertion\.(ref|environment)\s*==", condition):
        yield (
            "the condition does not require one ref or GitHub environment "
            "(&& assertion.ref == ... or assertion.environment == ...): any branch could deploy"
        )


# Project-wide roles that can read Kubernetes Secrets in every namespace, or Secret Manager secrets.
SECRET_READING_ROLES = frozenset(
    {
        "roles/container.developer",
        "roles/container.admin",
        "roles/container.clusterAdmin",
        "roles/secretmanager.secretAccessor",
        "roles/secretmanager.admin",
    }
)


@SECTION.resource_control(
    "iam-no-project-secret-readers",
    ["hardening (least privilege)"],
    "No service account reads Secrets project-wide",
    *PROJECT_IAM,
)
def no_project_secret_readers(resource: Resource) -> Iterator[str]:
    for member, role in iam_entries(resource):
        if member.startswith("serviceAccount:") and role in SECRET_READING_ROLES:
            yield (
                f"{member} gets {role} on the whole project: it can read every Secret "
                "(grant container.clusterViewer and namespace RBAC instead)"
            )
