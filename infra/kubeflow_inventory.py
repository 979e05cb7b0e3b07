"""What the Kubeflow Pipelines install applies, known offline.

Kustomize fetches KFP's manifests at the pinned commit only when the provider applies them, so the
audit cannot read them from the network. Instead, ``infra/kubeflow/upstream/<commit>.json`` holds
the objects of every manifest part at that commit (vendored once per release from a checkout of
kubeflow/pipelines; its tag moves, the commit does not), and :func:`applied_objects` applies the
overlay's own changes to them (namespace, image digests, Pod Security labels, Workload Identity
annotations, deleted secrets). The in-cluster controls run on the result.

Vendoring a new release (from a checkout of kubeflow/pipelines), then locking the digests of its
images (where the registries are reachable; ``--registry HOST=URL`` asks a mirror instead)::

    python -m infra.kubeflow_inventory vendor --repo ../pipelines --version 2.5.0
    python -m infra.kubeflow_inventory lock-digests --version 2.5.0

The inventory lists each part's resources as its kustomizations name them (recursively), with the
namespace and ``images`` transformers applied; upstream's own patches are not replayed, so a field
that upstream patches in later is not seen here.
"""

from __future__ import annotations

import argparse
import copy
import json
import posixpath
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import yaml

from infra.components.kubeflow_manifests import (
    CLOUDSQL_PARTS,
    IN_CLUSTER_PARTS,
    PROXY_IMAGE,
    RELEASES,
    UPSTREAM_DIR,
    OverlaySettings,
    cluster_scoped_overlay,
    digest_lock,
    image_name,
    install_overlay,
    write_whole,
)
from infra.image_digests import TIMEOUT_SECONDS, DigestLookupError, by_digest, resolve_digest
from infra.policies.controls.resources import containers

MANIFESTS: Final = "manifests/kustomize"
PARTS: Final = ("cluster-scoped-resources", *CLOUDSQL_PARTS, *IN_CLUSTER_PARTS)
# Large and irrelevant to the controls: a CRD is listed by name only.
_DROPPED_SPECS: Final = frozenset({"CustomResourceDefinition"})


def _show(repo: Path, commit: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"{commit}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


class _Checkout:
    """Files of a kubeflow/pipelines checkout at one commit, and the kustomize vars met in it."""

    def __init__(self, repo: Path, commit: str) -> None:
        self.repo = repo
        self.commit = commit
        self.vars: dict[str, str] = {}

    def show(self, path: str) -> str:
        return _show(self.repo, self.commit, path)

    def objects(self, directory: str) -> list[dict[str, Any]]:
        """The objects of the kustomization in ``directory``, as far as kustomize is replayed."""
        kustomization = yaml.safe_load(self.show(f"{directory}/kustomization.yaml")) or {}
        objects: list[dict[str, Any]] = []
        for resource in kustomization.get("resources") or []:
            path = posixpath.normpath(posixpath.join(directory, resource))
            if resource.endswith((".yaml", ".yml")):
                objects.extend(d for d in yaml.safe_load_all(self.show(path)) if d)
            elif "://" not in resource:
                objects.extend(self.objects(path))
        for patch_file in _strategic_patches(kustomization):
            _patch_by_name(
                objects, yaml.safe_load(self.show(posixpath.join(directory, patch_file)))
            )
        _transform(objects, kustomization)
        # KFP names its namespace through a var set from the kustomization's namespace. Kustomize
        # resolves vars last, after every patch: the objects keep the reference, the value is
        # noted.
        for var in kustomization.get("vars") or []:
            if (var.get("fieldref") or {}).get("fieldPath") == "metadata.namespace":
                self.vars[var["name"]] = str(kustomization.get("namespace") or "")
        return objects


def _patch_by_name(objects: Sequence[dict[str, Any]], patch: Mapping[str, Any]) -> None:
    body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")}
    target = (patch.get("kind"), (patch.get("metadata") or {}).get("name"))
    for manifest in objects:
        if (manifest.get("kind"), manifest.get("metadata", {}).get("name")) == target:
            _merge(manifest, body)


def _transform(objects: Sequence[dict[str, Any]], kustomization: Mapping[str, Any]) -> None:
    """The kustomization's namespace and image transformers."""
    namespace = kustomization.get("namespace")
    images = {image["name"]: image for image in kustomization.get("images") or []}
    for manifest in objects:
        if namespace and manifest.get("kind") not in CLUSTER_SCOPED:
            manifest.setdefault("metadata", {})["namespace"] = namespace
        for container in _containers(manifest):
            _retag(container, images)


def _resolve_vars(objects: list[dict[str, Any]], values: Mapping[str, str]) -> list[dict[str, Any]]:
    text = json.dumps(objects)
    for name, value in values.items():
        text = text.replace(f"$({name})", value)
    resolved: list[dict[str, Any]] = json.loads(text)
    return resolved


def _strategic_patches(kustomization: Mapping[str, Any]) -> list[str]:
    """Files of the kustomization's strategic-merge patches (JSON 6902 patches are not replayed)."""
    files = [str(p) for p in kustomization.get("patchesStrategicMerge") or []]
    files += [
        str(entry["path"])
        for entry in kustomization.get("patches") or []
        if isinstance(entry, Mapping)
        and str(entry.get("path", "")).endswith((".yaml", ".yml"))
        and "target" not in entry
    ]
    return files


def _retag(container: dict[str, Any], images: Mapping[str, Mapping[str, str]]) -> None:
    image = str(container.get("image", ""))
    name = image_name(image)
    rule = images.get(name)
    if rule is None:
        return
    base = rule.get("newName", name)
    if rule.get("digest"):
        container["image"] = f"{base}@{rule['digest']}"
    else:
        tag = image.partition("@")[0][len(name) + 1 :]
        container["image"] = f"{base}:{rule.get('newTag', tag)}"


CLUSTER_SCOPED: Final = frozenset(
    {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "PriorityClass"}
)
WORKLOADS: Final = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"})


def pod_spec(manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a workload manifest (``None`` for other kinds)."""
    if manifest.get("kind") not in WORKLOADS:
        return None
    spec = manifest.get("spec") or {}
    if manifest.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template") or {}
    found = template.get("spec")
    return found if isinstance(found, dict) else None


def _containers(manifest: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    spec = pod_spec(manifest)
    if spec is None:
        return
    yield from containers(spec)


def vendor(repo: Path, version: str) -> dict[str, Any]:
    """Every part's objects at ``version``'s commit, read from a checkout at ``repo``."""
    checkout = _Checkout(repo, RELEASES[version])
    inventory: dict[str, Any] = {}
    for part in PARTS:
        objects = checkout.objects(f"{MANIFESTS}/{part}")
        for manifest in objects:
            if manifest.get("kind") in _DROPPED_SPECS:
                manifest.pop("spec", None)
        inventory[part] = objects
    inventory[VARS] = checkout.vars
    return inventory


VARS: Final = "vars"
"""Key of the inventory that holds the kustomize vars (name → value)."""


def _upstream(commit: str) -> dict[str, Any]:
    path = UPSTREAM_DIR / f"{commit}.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _merge(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """A strategic merge: mappings merge, lists of named items merge by name, the rest replaces."""
    for key, value in patch.items():
        current = target.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            _merge(current, value)
        elif isinstance(current, list) and _named_items(value) and _named_items(current):
            by_name = {item["name"]: item for item in current}
            for item in value:
                if item["name"] in by_name:
                    _merge(by_name[item["name"]], item)
                else:
                    current.append(copy.deepcopy(item))
        else:
            target[key] = copy.deepcopy(value)


def _named_items(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and "name" in item for item in value)
    )


def _apply(
    objects: Sequence[dict[str, Any]], kustomization: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """``objects`` with the overlay's namespace, images and strategic-merge patches applied."""
    result = [copy.deepcopy(o) for o in objects]
    _transform(result, kustomization)
    for entry in kustomization.get("patches") or []:
        patch = yaml.safe_load(entry["patch"])
        # A patch with a target applies to every object the target selects, whatever its name.
        target = entry.get("target") or {
            "kind": patch["kind"],
            "name": patch["metadata"]["name"],
        }
        matches = [
            o
            for o in result
            if o.get("kind") == target["kind"]
            and target.get("name") in (None, o.get("metadata", {}).get("name"))
        ]
        if patch.get("$patch") == "delete":
            result = [o for o in result if all(o is not m for m in matches)]
            continue
        body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")}
        if "target" in entry:
            body.get("metadata", {}).pop("name", None)
        for manifest in matches:
            _merge(manifest, body)
    return result


def overlay_objects(kustomization: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The objects one overlay applies: its pinned upstream parts, after its own changes.

    Raises:
        ValueError: a resource is not a part of KFP's manifests pinned to a commit.
    """
    objects: list[dict[str, Any]] = []
    values: dict[str, str] = {}
    for url in kustomization.get("resources") or []:
        path, _, ref = str(url).partition("?ref=")
        if "/manifests/kustomize/" not in path or len(ref) != 40:
            raise ValueError(f"{url}: not a part of KFP's manifests pinned to a commit")
        upstream = _upstream(ref)
        objects.extend(upstream[path.split("/manifests/kustomize/", 1)[1]])
        values.update(upstream.get(VARS) or {})
    return _resolve_vars(_apply(objects, kustomization), values)


def applied_objects(settings: OverlaySettings) -> list[dict[str, Any]]:
    """The Kubernetes objects the KFP install applies for ``settings``, after the overlay."""
    return [
        manifest
        for kustomization in (cluster_scoped_overlay(settings), install_overlay(settings))
        for manifest in overlay_objects(kustomization)
    ]


def directory_objects(directory: Path) -> list[dict[str, Any]]:
    """The objects the overlay in ``directory`` (a ``kustomization.yaml``) applies."""
    text = (directory / "kustomization.yaml").read_text(encoding="utf-8")
    return overlay_objects(yaml.safe_load(text) or {})


def images(manifest: Mapping[str, Any]) -> list[str]:
    """Container images of a workload manifest."""
    return [str(container.get("image", "")) for container in _containers(manifest)]


def resource_type(manifest: Mapping[str, Any]) -> str:
    """The Pulumi type token of a manifest (``kubernetes:apps/v1:Deployment``)."""
    api_version = str(manifest.get("apiVersion", "v1"))
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{manifest.get('kind')}"


def tagged_images(commit: str) -> list[str]:
    """Every image the install at ``commit`` runs by tag: its manifests' (every part) and the proxy."""
    found = {
        image
        for part, objects in _upstream(commit).items()
        if part != VARS
        for manifest in objects
        for image in images(manifest)
    }
    return sorted(image for image in {*found, PROXY_IMAGE} if not by_digest(image))


def lock_digests(commit: str, endpoints: Mapping[str, str]) -> dict[str, str]:
    """Image reference → the digest its registry gives its tag now, for every image of ``commit``.

    Raises:
        DigestLookupError: one image could not be resolved (nothing is locked then).
    """
    import httpx

    with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=True) as client:
        return {image: resolve_digest(image, client, endpoints) for image in tagged_images(commit)}


def _write(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as sorted JSON, whole or not at all."""
    write_whole(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def _endpoint(text: str) -> tuple[str, str]:
    registry, _, url = text.partition("=")
    if not registry or not url.startswith(("https://", "http://")):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not HOST=URL (e.g. ghcr.io=https://mirror.example:5000)"
        )
    return registry, url


def main(argv: Sequence[str] | None = None) -> int:
    """Vendor the objects of a KFP release, or lock the digests of its images."""
    parser = argparse.ArgumentParser(prog="python -m infra.kubeflow_inventory")
    commands = parser.add_subparsers(dest="command", required=True)
    vendoring = commands.add_parser(
        "vendor", help="vendor a release's objects from a checkout of kubeflow/pipelines"
    )
    vendoring.add_argument("--repo", type=Path, required=True)
    vendoring.add_argument("--version", choices=sorted(RELEASES), required=True)
    locking = commands.add_parser(
        "lock-digests", help="lock the digest of every image of a release, asked of its registry"
    )
    locking.add_argument(
        "--version", choices=sorted(RELEASES), action="append", help="default: every release"
    )
    locking.add_argument(
        "--registry",
        type=_endpoint,
        action="append",
        default=[],
        metavar="HOST=URL",
        help="ask HOST's images at URL (a pull-through mirror); repeatable",
    )
    locking.add_argument(
        "--output",
        type=Path,
        default=UPSTREAM_DIR,
        help="directory of the locks (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.command == "vendor":
        inventory = vendor(args.repo, args.version)
        path = UPSTREAM_DIR / f"{RELEASES[args.version]}.json"
        _write(path, inventory)
        count = sum(len(v) for k, v in inventory.items() if k != VARS)
        sys.stdout.write(f"{path}: {count} objects\n")
        return 0
    for version in args.version or sorted(RELEASES):
        commit = RELEASES[version]
        try:
            lock = lock_digests(commit, dict(args.registry))
        except DigestLookupError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 1
        path = digest_lock(commit, args.output)
        _write(path, lock)
        sys.stdout.write(f"{path}: {len(lock)} images of KFP {version} locked by digest\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
