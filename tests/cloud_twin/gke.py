"""A GKE cluster's Kubernetes API server on loopback, for the official ``kubernetes`` client.

The client reaches it through a kubeconfig context named as ``gcloud container clusters
get-credentials`` names it (:meth:`FakeKubernetes.write_kubeconfig`), with a bearer token as GKE's
auth plugin supplies one. It answers what the GKE deploy target calls and records every request:

- ServiceAccounts: get (the serving namespace's account, annotated for Workload Identity, is
  created by :meth:`FakeKubernetes.add_service_account`, as the infrastructure program does);
- Deployments: server-side apply (``PATCH`` with ``application/apply-patch+yaml`` and a
  ``fieldManager``; any other patch is refused with 415 as the API server refuses it), get, get
  ``/status``, list (``fieldSelector=metadata.name=``), delete;
- Services, autoscaling/v2 HorizontalPodAutoscalers, Gateway API (``gateway.networking.k8s.io/v1``)
  HTTPRoutes and GKE's ``networking.gke.io/v1`` HealthCheckPolicies: server-side apply, get, delete;
- every kind above: create (``POST``; 409 ``AlreadyExists`` when the name is taken) and replace
  (``PUT``; 404 when absent, 409 ``Conflict`` when ``metadata.resourceVersion`` is stale).

A request can be refused on purpose (:meth:`FakeKubernetes.refuse`), as RBAC or an admission
webhook would refuse it, to test what a client leaves behind when a call fails midway.

Errors are ``Status`` bodies. A Deployment's status is what its controllers would report at once:
every pod ready (an autoscaler raises the count to its minimum), or, when Binary Authorization is
enforced (:attr:`FakeKubernetes.attested`) and the image has no attestation, no pod and the
``ReplicaFailure`` condition whose message is the admission webhook's denial of the pods.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from tests.cloud_twin.http import LoopbackFake, Reply

TOKEN = "twin-gke-token"
"""The bearer token the kubeconfig carries (GKE's auth plugin would supply an access token)."""
APPLY = "application/apply-patch+yaml"
CREATED = "2026-11-02T03:00:00Z"
WEBHOOK = "imagepolicywebhook.image-policy.k8s.io"

_KINDS = {
    "/api/v1": {"serviceaccounts": "ServiceAccount", "services": "Service"},
    "/apis/apps/v1": {"deployments": "Deployment"},
    "/apis/autoscaling/v2": {"horizontalpodautoscalers": "HorizontalPodAutoscaler"},
    "/apis/gateway.networking.k8s.io/v1": {"httproutes": "HTTPRoute"},
    "/apis/networking.gke.io/v1": {"healthcheckpolicies": "HealthCheckPolicy"},
}
_PATH = re.compile(
    r"^(?P<group>/api/v1|/apis/[a-z0-9.]+/v[0-9a-z]+)/namespaces/(?P<namespace>[^/]+)/"
    r"(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?(?P<status>/status)?$"
)


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    """A ``Status`` body, as the API server answers a refused request."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def binauthz_denial(image: str, attestor: str) -> dict[str, Any]:
    """The ``Status`` GKE's Binary Authorization webhook answers a pod of an unattested image."""
    return status_body(
        400,
        "BadRequest",
        f'admission webhook "{WEBHOOK}" denied the request: Image {image} denied by Binary '
        f"Authorization default admission rule. Image {image} denied by attestor {attestor}: No "
        "attestations found that were valid and signed by a key trusted by the attestor",
    )


class FakeKubernetes(LoopbackFake):
    """Namespaced objects kept in memory by (plural, namespace, name); every request recorded."""

    def __init__(self, namespaces: tuple[str, ...] = ("serving",)) -> None:
        self.namespaces = set(namespaces)
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str, Any]] = []
        """``(method, path, content type, body)`` of every request let through."""
        self.attested: set[str] | None = None
        """Binary Authorization: ``None`` admits every image; a set admits only these images."""
        self.attestor = "projects/twin-project/attestors/built-by-ci"
        self.refusals: dict[tuple[str, str], Reply] = {}
        """``(method, plural)`` → the reply that refuses such requests (:meth:`refuse`)."""
        self.lock = threading.Lock()
        super().__init__()

    def write_kubeconfig(self, path: Path, context: str) -> Path:
        """A kubeconfig whose context ``context`` reaches this server with :data:`TOKEN`."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": TOKEN}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    def add_service_account(self, namespace: str, name: str, google_account: str) -> None:
        """The Kubernetes service account bound to ``google_account`` by Workload Identity."""
        self.objects["serviceaccounts", namespace, name] = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "annotations": {"iam.gke.io/gcp-service-account": google_account},
            },
        }

    def refuse(self, method: str, plural: str, message: str = "forbidden by policy") -> None:
        """Refuse every ``method`` request on objects of ``plural`` with 403, as RBAC refuses."""
        self.refusals[method, plural] = 403, status_body(403, "Forbidden", message)

    def applied(self, plural: str) -> list[Any]:
        """The bodies applied to objects of ``plural`` (``deployments`` ...), in order."""
        return [
            body
            for method, path, _, body in self.requests
            if method == "PATCH" and f"/{plural}/" in urlsplit(path).path
        ]

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Answer one request."""
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return 401, status_body(401, "Unauthorized", "Unauthorized")
        content_type = headers.get("content-type", "").split(";")[0]
        # Server-side apply sends YAML; the client writes JSON, which is YAML too.
        parsed = yaml.safe_load(body) if body else None
        with self.lock:
            self.requests.append((method, path, content_type, parsed))
            return self._answer(method, path, content_type, parsed)

    def _answer(self, method: str, path: str, content_type: str, body: Any) -> Reply:
        parts = urlsplit(path)
        match = _PATH.match(unquote(parts.path))
        kind = _KINDS.get(match["group"], {}).get(match["plural"]) if match else None
        if match is None or kind is None:
            return 404, status_body(404, "NotFound", f"the server could not find {path}")
        namespace, plural, name = match["namespace"], match["plural"], match["name"]
        if namespace not in self.namespaces:
            return 404, status_body(404, "NotFound", f'namespaces "{namespace}" not found')
        refusal = self.refusals.get((method, plural))
        if refusal is not None:
            return refusal
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        key = (plural, namespace, name or "")
        handlers = {
            ("POST", False): lambda: self.create(plural, namespace, kind, body),
            ("PUT", True): lambda: self.replace(key, kind, body),
            ("GET", False): lambda: self.list(plural, namespace, query.get("fieldSelector"), kind),
            ("PATCH", True): lambda: self.apply(key, kind, content_type, query, body),
            ("GET", True): lambda: self.get(key),
            ("DELETE", True): lambda: self.delete(key),
        }
        handler = handlers.get((method, name is not None))
        if handler is None:
            return 405, status_body(405, "MethodNotAllowed", f"{method} is not allowed on {path}")
        return handler()

    def get(self, key: tuple[str, str, str]) -> Reply:
        """One object, as its controllers leave it."""
        if key not in self.objects:
            return 404, status_body(404, "NotFound", f'{key[0]} "{key[2]}" not found')
        return 200, self.observed(key)

    def delete(self, key: tuple[str, str, str]) -> Reply:
        """Delete one object."""
        if self.objects.pop(key, None) is None:
            return 404, status_body(404, "NotFound", f'{key[0]} "{key[2]}" not found')
        return 200, status_body(200, "", "") | {"status": "Success"}

    def create(self, plural: str, namespace: str, kind: str, body: Any) -> Reply:
        """Create one object; 409 when its name is taken."""
        name = (body or {}).get("metadata", {}).get("name")
        if (body or {}).get("kind") != kind or not name:
            return 400, status_body(400, "BadRequest", "the body names no object of this kind")
        key = (plural, namespace, name)
        if key in self.objects:
            return 409, status_body(409, "AlreadyExists", f'{plural} "{name}" already exists')
        return 201, self._store(key, body, 1)

    def replace(self, key: tuple[str, str, str], kind: str, body: Any) -> Reply:
        """Replace one object; 409 when the body's ``resourceVersion`` is not the stored one."""
        before = self.objects.get(key)
        if before is None:
            return 404, status_body(404, "NotFound", f'{key[0]} "{key[2]}" not found')
        if body.get("kind") != kind or body.get("metadata", {}).get("name") != key[2]:
            return 400, status_body(400, "BadRequest", "the name or kind of the body differs")
        version = body["metadata"].get("resourceVersion")
        if version != before["metadata"]["resourceVersion"]:
            return 409, status_body(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {key[0]} "{key[2]}": the object has been '
                "modified; please apply your changes to the latest version and try again",
            )
        return 200, self._store(key, body, self._generation(before, body))

    def list(self, plural: str, namespace: str, selector: str | None, kind: str) -> Reply:
        """The objects of ``plural`` in ``namespace``; ``metadata.name=NAME`` is honoured."""
        wanted = selector.removeprefix("metadata.name=") if selector else None
        items = [
            self.observed(key)
            for key in self.objects
            if key[:2] == (plural, namespace) and wanted in (None, key[2])
        ]
        return 200, {"kind": f"{kind}List", "apiVersion": "v1", "metadata": {}, "items": items}

    def apply(
        self,
        key: tuple[str, str, str],
        kind: str,
        content_type: str,
        query: dict[str, str],
        body: Any,
    ) -> Reply:
        """Server-side apply: the applied object replaces what this manager applied before."""
        if content_type != APPLY:
            return 415, status_body(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - "
                f"accepted media types include: {APPLY}",
            )
        if not query.get("fieldManager"):
            return 422, status_body(
                422, "Invalid", "PatchOptions.meta.k8s.io is invalid: fieldManager: Required value"
            )
        if body.get("kind") != kind or body.get("metadata", {}).get("name") != key[2]:
            return 400, status_body(400, "BadRequest", "the name or kind of the body differs")
        before = self.objects.get(key)
        generation = 1 if before is None else self._generation(before, body)
        return (200 if before else 201), self._store(key, body, generation)

    @staticmethod
    def _generation(before: dict[str, Any], body: Any) -> int:
        changed = before.get("spec") != body.get("spec")
        return int(before["metadata"]["generation"]) + (1 if changed else 0)

    def _store(self, key: tuple[str, str, str], body: Any, generation: int) -> dict[str, Any]:
        stored = json.loads(json.dumps(body))
        stored["metadata"] |= {
            "namespace": key[1],
            "uid": f"uid-{key[2]}",
            "generation": generation,
            "resourceVersion": str(len(self.requests)),
            "creationTimestamp": CREATED,
        }
        self.objects[key] = stored
        return self.observed(key)

    def observed(self, key: tuple[str, str, str]) -> dict[str, Any]:
        """The object as its controllers leave it: a Deployment gets its status."""
        stored = self.objects[key]
        if key[0] != "deployments":
            return stored
        replicas = self._replicas(key, stored["spec"])
        return stored | {
            "spec": stored["spec"] | {"replicas": replicas},
            "status": self._deployment_status(stored, replicas),
        }

    def _replicas(self, key: tuple[str, str, str], spec: dict[str, Any]) -> int:
        # The API server defaults the count to 1; an autoscaler raises it to its minimum.
        replicas = int(spec.get("replicas", 1))
        for (plural, namespace, _), other in self.objects.items():
            target = other.get("spec", {}).get("scaleTargetRef", {}).get("name")
            if (plural, namespace, target) == ("horizontalpodautoscalers", key[1], key[2]):
                replicas = max(replicas, int(other["spec"]["minReplicas"]))
        return replicas

    def _deployment_status(self, stored: dict[str, Any], replicas: int) -> dict[str, Any]:
        spec = stored["spec"]
        generation = stored["metadata"]["generation"]
        images = [c["image"] for c in spec["template"]["spec"]["containers"]]
        refused = [i for i in images if self.attested is not None and i not in self.attested]
        if refused:
            denial = binauthz_denial(refused[0], self.attestor)
            return {
                "observedGeneration": generation,
                "replicas": 0,
                "conditions": [
                    {
                        "type": "ReplicaFailure",
                        "status": "True",
                        "reason": "FailedCreate",
                        "message": denial["message"],
                    }
                ],
            }
        return {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        }
