"""Artifact Registry: the projects' images, and the kit's wheel behind an index that prefers it.

Three Python repositories make one index: ``kit`` holds the kit's own wheel (published by
``mlops-kit env publish-kit``; read by the members the stack names, and by anyone only where
the stack says so), ``pypi`` is a remote repository caching the
public index, and ``python`` is a virtual repository over both in which ``kit`` takes precedence,
so that a package of the kit's name on the public index never wins. Projects resolve the kit
from ``kit`` alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_gcp import artifactregistry

from infra.components import child_options
from infra.policies.controls.artifact_registry import PUBLIC_READ_APPROVED

READER = "roles/artifactregistry.reader"
WRITER = "roles/artifactregistry.writer"
# Upstream priorities of the virtual repository: the greater is pulled first.
KIT_PRIORITY = 100
PUBLIC_INDEX_PRIORITY = 10


@dataclass(frozen=True)
class ArtifactRegistryArgs:
    """Inputs of :class:`ArtifactRegistry`."""

    project: str
    """Project of the repositories."""
    region: str
    """Region of the repositories."""
    readers: Mapping[str, pulumi.Input[str]]
    """Workload → IAM member that pulls images and packages (GKE nodes, pipeline runner)."""
    writers: Mapping[str, pulumi.Input[str]]
    """Workload → IAM member that pushes images and publishes the kit (the deployer)."""
    kit_readers: Sequence[str] = ()
    """Members besides the environment's accounts who install the kit (``domain:acme.example``)."""
    public_kit: bool = False
    """Let anyone (``allUsers``) read the kit's repository; the repository is labelled
    ``public-read=approved`` so that the audit sees the stack chose it."""
    untagged_after_days: int = 14
    """Untagged images (replaced by a newer push) are deleted this many days after upload; the
    digests CI ran and attested keep their tag."""
    kms_key: pulumi.Input[str] | None = None
    """Cloud KMS key of every repository (CMEK); ``None`` uses Google-managed keys."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of the repositories."""


class ArtifactRegistry(pulumi.ComponentResource):
    """The environment's Docker repository and its Python index; see the module docstring."""

    image_repository: pulumi.Output[str]
    """``REGION-docker.pkg.dev/PROJECT/REPOSITORY``: where project images are pushed."""
    kit_index: pulumi.Output[str]
    """Simple index of the kit's repository: projects resolve mlops-kit there alone."""
    python_index: pulumi.Output[str]
    """Simple index of the virtual repository (the kit first, then the public index), for pip."""

    def __init__(
        self, name: str, args: ArtifactRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops-kit:gcp:ArtifactRegistry", name, None, opts)
        child = child_options(self, opts)

        def repository(suffix: str, format_: str, **settings: Any) -> artifactregistry.Repository:
            return artifactregistry.Repository(
                f"{name}-{suffix}",
                artifactregistry.RepositoryArgs(
                    format=format_,
                    repository_id=f"{name}-{suffix}",
                    project=args.project,
                    location=args.region,
                    kms_key_name=args.kms_key,
                    **{"labels": args.labels, **settings},
                ),
                opts=child,
            )

        images = repository(
            "images",
            "DOCKER",
            description="Project images, pushed by CI and pulled by digest",
            # A pushed tag names one image for good: CI tags by commit, and nothing retags.
            docker_config=artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
            cleanup_policies=[
                artifactregistry.RepositoryCleanupPolicyArgs(
                    id="delete-untagged",
                    action="DELETE",
                    condition=artifactregistry.RepositoryCleanupPolicyConditionArgs(
                        tag_state="UNTAGGED",
                        older_than=f"{args.untagged_after_days * 86400}s",
                    ),
                )
            ],
            cleanup_policy_dry_run=False,
            vulnerability_scanning_config=artifactregistry.RepositoryVulnerabilityScanningConfigArgs(
                enablement_config="INHERITED"
            ),
        )
        kit = repository(
            "kit",
            "PYTHON",
            description="The mlops-kit wheels",
            **(
                {"labels": {**args.labels, PUBLIC_READ_APPROVED[0]: PUBLIC_READ_APPROVED[1]}}
                if args.public_kit
                else {}
            ),
        )
        public = repository(
            "pypi",
            "PYTHON",
            mode="REMOTE_REPOSITORY",
            description="Cache of the public Python index",
            remote_repository_config=artifactregistry.RepositoryRemoteRepositoryConfigArgs(
                python_repository=artifactregistry.RepositoryRemoteRepositoryConfigPythonRepositoryArgs(
                    public_repository="PYPI"
                )
            ),
        )
        python = repository(
            "python",
            "PYTHON",
            mode="VIRTUAL_REPOSITORY",
            description="The kit first, then the public index",
            virtual_repository_config=artifactregistry.RepositoryVirtualRepositoryConfigArgs(
                upstream_policies=[
                    artifactregistry.RepositoryVirtualRepositoryConfigUpstreamPolicyArgs(
                        id="kit", repository=kit.id, priority=KIT_PRIORITY
                    ),
                    artifactregistry.RepositoryVirtualRepositoryConfigUpstreamPolicyArgs(
                        id="pypi", repository=public.id, priority=PUBLIC_INDEX_PRIORITY
                    ),
                ]
            ),
        )
        # The environment's workloads reach the kit through the virtual repository; the deployer,
        # which builds images from it, writes it.
        # Named by the member, not its place in the list: reordering the config changes nothing.
        kit_readers: dict[str, pulumi.Input[str]] = {
            re.sub(r"[^a-z0-9]+", "-", member.lower()): member for member in args.kit_readers
        }
        if args.public_kit:
            kit_readers["everyone"] = "allUsers"
        grants: Sequence[
            tuple[str, artifactregistry.Repository, Mapping[str, pulumi.Input[str]], str]
        ] = (
            ("images", images, args.readers, READER),
            ("images", images, args.writers, WRITER),
            ("kit", kit, kit_readers, READER),
            ("kit", kit, args.writers, WRITER),
            ("python", python, args.readers, READER),
            ("python", python, args.writers, READER),
        )
        for suffix, target, members, role in grants:
            for workload, member in sorted(members.items()):
                artifactregistry.RepositoryIamMember(
                    f"{name}-{suffix}-{workload}-{role.rsplit('.', 1)[1]}",
                    project=args.project,
                    location=args.region,
                    repository=target.repository_id,
                    role=role,
                    member=member,
                    opts=child,
                )
        self.image_repository = pulumi.Output.concat(
            args.region, "-docker.pkg.dev/", args.project, "/", images.repository_id
        )
        self.kit_index = _simple_index(args, kit)
        self.python_index = _simple_index(args, python)
        self.register_outputs(
            {
                "image_repository": self.image_repository,
                "kit_index": self.kit_index,
                "python_index": self.python_index,
            }
        )


def _simple_index(
    args: ArtifactRegistryArgs, repository: artifactregistry.Repository
) -> pulumi.Output[str]:
    return pulumi.Output.concat(
        "https://",
        args.region,
        "-python.pkg.dev/",
        args.project,
        "/",
        repository.repository_id,
        "/simple/",
    )
