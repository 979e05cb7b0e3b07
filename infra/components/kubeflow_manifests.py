"""Kubeflow Pipelines' manifests: pinned to a commit, adapted by one local kustomize overlay.

Every object the KFP install applies has one owner. The overlay (``infra/kubeflow/overlays/<env>``,
written from the stack configuration and committed for review) sets what the manifests own: the
pipeline root in the ``kfp-launcher`` ConfigMap, which the v2 launcher reads (and in
``pipeline-install-config``, its source inside the manifests), Workload Identity annotations, Pod
Security labels, and the scheduling of pipeline pods on the GKE Sandbox pool. Secrets the manifests
ship with fixed values (``minio``/``minio123``, ``root`` without password) are deleted from the
build; the program owns them, with generated or IAM credentials.

Kustomize fetches the pinned manifests when the provider applies the overlay; nothing here (or in
the tests) downloads anything. Their images are pinned by the digests of a lock committed beside
the vendored inventory (``infra/kubeflow/upstream/<commit>.digests.json``, written by
``python -m infra.kubeflow_inventory lock-digests`` where the registries are reachable): the
overlay's ``images`` entries replace each locked image's tag with its digest; an image the lock
does not name stays on its tag.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from infra.image_digests import DIGEST

RELEASES: Final[dict[str, str]] = {
    # KFP release → the commit its tag points at (a tag can move; a commit cannot).
    "2.5.0": "d07cf1c7f9bd163091986de9bb723c4078c498b1",
}
UPSTREAM: Final = "https://github.com/kubeflow/pipelines//manifests/kustomize/{path}?ref={commit}"
# KFP's own services with its database on Cloud SQL: the platform-agnostic environment without its
# MySQL pod and without the public inverse proxy of the "gcp" environment.
CLOUDSQL_PARTS: Final = (
    "base/installs/generic",
    "base/metadata/base",
    "third-party/argo/installs/namespace",
    # KFP 2.5's API server opens an S3 store at start-up; MinIO stays for that, with generated
    # credentials. Pipeline artifacts go to GCS (the pipeline root), never to MinIO.
    "third-party/minio/base",
)
IN_CLUSTER_PARTS: Final = ("env/platform-agnostic",)
OVERLAYS: Final = Path(__file__).resolve().parent.parent / "kubeflow" / "overlays"
UPSTREAM_DIR: Final = OVERLAYS.parent / "upstream"
"""The vendored objects of each pinned commit (``<commit>.json``) and their digest locks."""
PROXY_IMAGE: Final = "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.3"
"""The Cloud SQL Auth Proxy, which the program runs beside KFP's manifests (locked with them)."""
SANDBOX_TOLERATION: Final = {
    "key": "sandbox.gke.io/runtime",
    "operator": "Equal",
    "value": "gvisor",
    "effect": "NoSchedule",
}
POD_SECURITY: Final = {
    "pod-security.kubernetes.io/enforce": "baseline",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}


@dataclass(frozen=True)
class OverlaySettings:
    """What the overlay sets on KFP's manifests for one environment."""

    version: str
    """KFP release (a key of :data:`RELEASES`)."""
    database: str
    """``cloudsql`` or ``in-cluster``."""
    pipeline_root: str
    """Default pipeline root on GCS (``gs://bucket/pipeline-root``)."""
    accounts: dict[str, str]
    """Kubernetes service account → Google service-account email (Workload Identity)."""
    sandbox_pool: str
    """Node pool of pipeline pods (GKE Sandbox)."""
    namespace: str = "kubeflow"
    digests: Mapping[str, str] = field(default_factory=dict)
    """Image reference (``NAME:TAG``) → the ``sha256:`` digest the lock pins it to."""

    @property
    def commit(self) -> str:
        return RELEASES[self.version]


def digest_lock(commit: str, directory: Path = UPSTREAM_DIR) -> Path:
    """The lock of the digests of the images the install at ``commit`` runs."""
    return directory / f"{commit}.digests.json"


def locked_digests(version: str, directory: Path = UPSTREAM_DIR) -> dict[str, str]:
    """Image reference → digest, as locked for ``version``'s commit (empty until it is locked).

    Raises:
        StackConfigError: the lock is not a JSON object, or maps an image to something that is
            not a ``sha256:`` digest (the audit and the program report it in one line).
    """
    # Imported here: infra.config reads RELEASES from this module.
    from infra.config import StackConfigError

    path = digest_lock(RELEASES[version], directory)
    if not path.is_file():
        return {}
    relock = "run python -m infra.kubeflow_inventory lock-digests again"
    try:
        lock = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        lock = None
    if not isinstance(lock, dict):
        raise StackConfigError(f"{path}: not a JSON object of image → digest; {relock}")
    for reference, digest in lock.items():
        if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
            raise StackConfigError(
                f"{path}: {reference} is locked to {digest!r}, not a sha256 digest; {relock}"
            )
    return dict(lock)


def image_name(reference: str) -> str:
    """``reference`` without its tag or digest: what kustomize's ``images`` entries match."""
    path = reference.partition("@")[0]
    registry_and_path, _, last = path.rpartition("/")
    name = last.partition(":")[0]
    return f"{registry_and_path}/{name}" if registry_and_path else name


def pinned(reference: str, digests: Mapping[str, str]) -> str:
    """``reference`` by its locked digest (``NAME@sha256:…``), or as it is when not locked."""
    digest = digests.get(reference)
    return f"{image_name(reference)}@{digest}" if digest else reference


class _ReadableDumper(yaml.SafeDumper):
    """Multi-line strings (the patches) as literal blocks, as a person would write them."""


def _literal(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ReadableDumper.add_representer(str, _literal)


def _upstream(path: str, commit: str) -> str:
    return UPSTREAM.format(path=path, commit=commit)


def _patch(kind: str, name: str, api_version: str = "v1", **body: Any) -> dict[str, str]:
    manifest = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **body}
    return {"patch": yaml.dump(manifest, Dumper=_ReadableDumper, sort_keys=True)}


# Deployments of KFP that run as the default service account and need no Kubernetes API.
NO_API_ACCESS: Final = ("minio", "metadata-envoy-deployment")


def cluster_scoped_overlay(settings: OverlaySettings) -> dict[str, Any]:
    """CRDs, cluster roles and the namespace, whose Pod Security labels the overlay sets."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [_upstream("cluster-scoped-resources", settings.commit)],
        # The manifests name their namespace through a kustomize var, resolved after patches: a
        # patch by name would not match, so this one selects the namespace by kind.
        "patches": [
            {
                **_patch(
                    "Namespace",
                    settings.namespace,
                    metadata={"name": settings.namespace, "labels": POD_SECURITY},
                ),
                "target": {"kind": "Namespace"},
            }
        ],
    }


def _workflow_defaults(settings: OverlaySettings) -> str:
    # Argo applies these to every workflow KFP submits: pipeline pods run on the sandbox pool,
    # under gVisor, and tolerate the pool's taint.
    defaults = {
        "spec": {
            "nodeSelector": {"cloud.google.com/gke-nodepool": settings.sandbox_pool},
            "tolerations": [SANDBOX_TOLERATION],
            "podSpecPatch": json.dumps({"runtimeClassName": "gvisor"}),
        }
    }
    return yaml.dump(defaults, Dumper=_ReadableDumper, sort_keys=True)


def install_overlay(settings: OverlaySettings) -> dict[str, Any]:
    """KFP's namespaced services, with the pipeline root, identities and secrets of the kit."""
    parts = CLOUDSQL_PARTS if settings.database == "cloudsql" else IN_CLUSTER_PARTS
    owned_secrets = ["mlpipeline-minio-artifact"]
    if settings.database == "cloudsql":
        owned_secrets.append("mysql-secret")
    # Kustomize replaces the tag of every container whose image has this name with the digest.
    images = [
        {"name": image_name(reference), "digest": digest}
        for reference, digest in sorted(settings.digests.items())
        if reference != PROXY_IMAGE
    ]
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": settings.namespace,
        "resources": [_upstream(part, settings.commit) for part in parts],
        **({"images": images} if images else {}),
        "patches": [
            # Both: the manifests copy pipeline-install-config into kfp-launcher (what the v2
            # launcher reads) inside their own base, before an overlay's patches apply.
            *(
                _patch(
                    "ConfigMap", config_map, data={"defaultPipelineRoot": settings.pipeline_root}
                )
                for config_map in ("pipeline-install-config", "kfp-launcher")
            ),
            _patch(
                "ConfigMap",
                "workflow-controller-configmap",
                data={"workflowDefaults": _workflow_defaults(settings)},
            ),
            *(
                _patch(
                    "ServiceAccount",
                    ksa,
                    metadata={
                        "name": ksa,
                        "annotations": {"iam.gke.io/gcp-service-account": email},
                    },
                )
                for ksa, email in sorted(settings.accounts.items())
            ),
            *(_patch("Secret", name, **{"$patch": "delete"}) for name in owned_secrets),
            *(
                _patch(
                    "Deployment",
                    deployment,
                    api_version="apps/v1",
                    spec={"template": {"spec": {"automountServiceAccountToken": False}}},
                )
                for deployment in NO_API_ACCESS
            ),
        ],
    }


def write_whole(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (and its missing directories) whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Parallel writers (evaluations in test workers) may write the same file: one temporary each.
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def write_overlays(
    environment: str, settings: OverlaySettings, root: Path = OVERLAYS
) -> dict[str, str]:
    """Write the two overlays of ``environment``; returns part → directory.

    The files are rewritten only when their content changes, so a committed overlay stays as is.
    """
    directories = {}
    for part, kustomization in (
        ("cluster-scoped", cluster_scoped_overlay(settings)),
        ("install", install_overlay(settings)),
    ):
        directory = root / environment / part
        text = (
            "# Written by infra/components/kubeflow_manifests.py from the stack configuration.\n"
            + yaml.dump(kustomization, Dumper=_ReadableDumper, sort_keys=False, width=100)
        )
        path = directory / "kustomization.yaml"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            write_whole(path, text)
        directories[part] = str(directory)
    return directories
