"""The ``gke://PROJECT/LOCATION/CLUSTER/NAMESPACE`` deploy target: the serving image on a GKE cluster.

Per model alias it keeps, in the serving namespace the infrastructure program creates:

- a Deployment ``<alias name>`` of the serving image (by digest) running ``mlops-kit serve
  NAME@ALIAS``: its pods follow the alias like every serving process, so a promotion, an approval or
  a rollback in the registry reaches them without a rollout;
- a HorizontalPodAutoscaler of it, and a Service ``<alias name>`` in front of its pods;
- a Gateway API HTTPRoute ``<alias name>`` on the serving Gateway: requests to ``/<alias name>/...``
  go to the Service (the prefix is stripped), with a GKE HealthCheckPolicy per Service so the load
  balancer probes the server's health route;
- during a canary, a Deployment ``<alias name>-canary`` of the pinned new version (its own small
  replica count) behind its own Service, and the route's weights split the traffic exactly: a 5 %
  canary is weights 95/5, whatever the pod counts.

Deploying rolls the image out first (the pods keep serving the alias's current version) and moves
the alias once the rollout is complete, so a refused image (Binary Authorization) moves nothing.
The first deployment of an alias moves it first: a server needs a version to start. A canary ends
(approval, promotion, rollback, withdrawal) by taking it off the route first, then deleting its
Deployment and Service, so no request is sent to a deleted backend.

The Kubernetes client reads the kubeconfig context ``gke_PROJECT_LOCATION_CLUSTER`` (what ``gcloud
container clusters get-credentials`` writes), or, inside a pod of the cluster (a pipeline step), its
service account. Query parameters: ``context`` (another kubeconfig context), ``service_account``
(the Kubernetes service account of the pods, default ``model-server``), ``rollout_timeout``
(seconds, default 600), ``gateway`` (the Gateway the routes attach to, ``NAME`` or
``NAMESPACE/NAME``, default ``models`` in the serving namespace), ``canary_replicas`` (pods of a
canary, default 1), ``url`` (``http://ADDRESS`` of that Gateway, the stack's ``serving_url``, which
``mlops-kit env import`` writes: deploying and the status then say where the alias is served,
``http://ADDRESS/<alias name>/predict``).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import time
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from typing_extensions import override

from mlops_kit.backends import import_sdk
from mlops_kit.deploy_targets import ContainerTarget, Deployment, holder_deployment, with_canary
from mlops_kit.errors import (
    BackendError,
    ConfigError,
    ConflictError,
    MlopsKitError,
    first_line,
    shorten,
)
from mlops_kit.images import HEALTH_ROUTE, PREDICT_ROUTE, SERVER_PORT, refusal_from

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlops_kit.models import ModelVersion

FIELD_MANAGER: Final = "mlops-kit"
"""The server-side-apply field manager that owns what the target writes."""
SERVICE_ACCOUNT: Final = "model-server"
"""The Kubernetes service account of the pods (the infrastructure program creates it)."""
WORKLOAD_IDENTITY_ANNOTATION: Final = "iam.gke.io/gcp-service-account"
GATEWAY: Final = "models"
"""The Gateway the alias routes attach to (the infrastructure program creates it)."""
CANARY_REPLICAS: Final = 1
"""Pods of a canary: its share of the traffic is the route's weight, not its share of the pods."""
SERVICE_PORT: Final = 80
VERSION_ANNOTATION: Final = "mlops-kit.io/canary-version"
"""On the route: the version its canary backend serves."""
MIN_REPLICAS: Final = 2
"""Two pods at least: one can be rescheduled while the other serves."""
MAX_REPLICAS: Final = 10
TARGET_CPU_UTILIZATION: Final = 70
RESOURCES: Final = {
    "requests": {"cpu": "500m", "memory": "1Gi"},
    # No CPU limit: throttling adds latency, and the autoscaler adds pods on CPU instead.
    "limits": {"memory": "2Gi"},
}
_SEGMENT: Final = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_PURPOSE: Final = "the GKE deploy target"
_POLL_SECONDS: Final = 2.0
_APPLY: Final = {
    "Deployment": ("AppsV1Api", "patch_namespaced_deployment"),
    "Service": ("CoreV1Api", "patch_namespaced_service"),
    "HorizontalPodAutoscaler": ("AutoscalingV2Api", "patch_namespaced_horizontal_pod_autoscaler"),
}
"""The client API and method that server-side apply each built-in kind the target writes."""
_DELETE: Final = {
    "Deployment": ("AppsV1Api", "delete_namespaced_deployment"),
    "Service": ("CoreV1Api", "delete_namespaced_service"),
}
_CUSTOM: Final = {
    "HTTPRoute": ("gateway.networking.k8s.io", "v1", "httproutes"),
    "HealthCheckPolicy": ("networking.gke.io", "v1", "healthcheckpolicies"),
}
"""Group, version and plural of each custom kind the target writes (CustomObjectsApi)."""


def _kubernetes(module: str) -> Any:
    return import_sdk(module, package="kubernetes", extra="gke", purpose=_PURPOSE)


def resource_name(model: str, alias: str) -> str:
    """The Kubernetes name of ``model``'s ``alias``: readable, and unique through a short hash.

    Two model names may differ only where a Kubernetes name cannot (case, ``_``).
    """
    slug = re.sub(r"[^a-z0-9-]+", "-", f"{model}-{alias}".lower()).strip("-")[:40].rstrip("-")
    if not slug[:1].isalpha():
        slug = f"m-{slug}".rstrip("-")
    digest = hashlib.sha256(f"{model}@{alias}".encode()).hexdigest()[:6]
    return f"{slug}-{digest}"


def _gateway_url(value: str | None) -> str | None:
    """The ``url`` parameter: ``http(s)://HOST[:PORT]`` of the Gateway, without a path."""
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        valid_port = parts.port is not None or ":" not in parts.netloc.rpartition("]")[2]
    except ValueError:  # an unclosed bracketed address, a port above 65535
        valid_port = False
    if (
        not valid_port
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path.strip("/")
        or "@" in parts.netloc  # credentials would be printed with every deployment
    ):
        raise ConfigError(
            f"url in deploy URI must be http://ADDRESS of the serving Gateway (the stack's "
            f"serving_url), not {shorten(value)!r}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _labels(name: str, track: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "mlops-kit-serving",
        "app.kubernetes.io/instance": name,
        "mlops-kit.io/track": track,
    }


class GkeTarget(ContainerTarget):
    """Rolls the serving image out on a GKE cluster and moves the alias its pods follow."""

    form = "gke://PROJECT/LOCATION/CLUSTER/NAMESPACE"

    def __init__(self, uri: str, kit: Any) -> None:
        super().__init__(uri, kit)
        segments, query = self.uri_parts()
        self.project, self.location, self.cluster, self.namespace = segments
        for what, value in zip(("location", "cluster", "namespace"), segments[1:], strict=True):
            if not _SEGMENT.fullmatch(value):
                raise ConfigError(
                    f"invalid {what} {shorten(value)!r} in deploy URI: use lower-case letters, "
                    f"digits and '-' ({self.form})"
                )
        self.context = query.get("context") or f"gke_{self.project}_{self.location}_{self.cluster}"
        self.service_account = query.get("service_account") or SERVICE_ACCOUNT
        try:
            self.rollout_timeout = float(query.get("rollout_timeout", "600"))
        except ValueError:
            self.rollout_timeout = math.nan
        # nan, inf or a negative time would wait forever or not at all.
        if not (math.isfinite(self.rollout_timeout) and self.rollout_timeout > 0):
            raise ConfigError(
                f"rollout_timeout in deploy URI must be seconds (more than 0), not "
                f"{shorten(query['rollout_timeout'])!r}"
            )
        replicas = query.get("canary_replicas", str(CANARY_REPLICAS))
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
        if not re.fullmatch(r"[0-9]{1,4}", replicas) or int(replicas) < 1:
            raise ConfigError(
                f"canary_replicas in deploy URI must be a whole number of pods (1 or more), not "
                f"{shorten(replicas)!r}"
            )
        self.canary_replicas = int(replicas)
        gateway_namespace, _, gateway = query.get("gateway", GATEWAY).rpartition("/")
        if not all(_SEGMENT.fullmatch(part) for part in (gateway, gateway_namespace or gateway)):
            raise ConfigError(
                f"gateway in deploy URI must be NAME or NAMESPACE/NAME, not "
                f"{shorten(query['gateway'])!r}"
            )
        self.gateway = {"name": gateway} | (
            {"namespace": gateway_namespace} if gateway_namespace else {}
        )
        self.url = _gateway_url(query.get("url"))

    @cached_property
    def _client(self) -> Any:
        config = _kubernetes("kubernetes.config")
        # The client reads KUBECONFIG once, when it is imported; kubectl (and gcloud, which writes
        # the context) read it when they run.
        kubeconfig = os.environ.get("KUBECONFIG") or None
        try:
            return config.new_client_from_config(
                config_file=kubeconfig, context=self.context, persist_config=False
            )
        except config.ConfigException as outside:
            try:
                configuration = _kubernetes("kubernetes.client").Configuration()
                config.load_incluster_config(client_configuration=configuration)
            except config.ConfigException:
                raise ConfigError(
                    f"no kubeconfig context {self.context!r} ({first_line(outside)}) and not in a "
                    f"pod of the cluster: run `gcloud container clusters get-credentials "
                    f"{self.cluster} --location {self.location} --project {self.project}`"
                ) from outside
            return _kubernetes("kubernetes.client").ApiClient(configuration)

    @cached_property
    def _apply_client(self) -> Any:
        # Server-side apply: one idempotent PATCH creates or updates an object. The client picks a
        # JSON-patch content type itself; its default headers take precedence over that choice.
        client = self._client
        applier = _kubernetes("kubernetes.client").ApiClient(client.configuration)
        applier.set_default_header("Content-Type", "application/apply-patch+yaml")
        return applier

    def _call(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        """``call(*args, **kwargs)``, a refusal of the Kubernetes API turned into one line."""
        exceptions = _kubernetes("kubernetes.client.exceptions")
        try:
            return call(*args, **kwargs)
        except exceptions.ApiException as exc:
            raise BackendError(
                f"the Kubernetes API of {self.cluster} refused to {what}: "
                f"{_status_message(exc)} (HTTP {exc.status})"
            ) from exc
        except OSError as exc:  # urllib3's connection errors are OSErrors
            raise BackendError(
                f"cannot reach the Kubernetes API of {self.cluster}: {first_line(exc)}"
            ) from exc

    @override
    def check(self) -> str:
        self._serving_account()
        return (
            f"GKE cluster {self.cluster} ({self.project}/{self.location}), namespace "
            f"{self.namespace}: pods run as {self.service_account}"
        )

    def _serving_account(self) -> str:
        """The Google account the pods run as, checked on their Kubernetes service account.

        Raises:
            ConfigError: the environment names no ``serving`` account, or the Kubernetes service
                account does not exist or is not bound to it by Workload Identity.
        """
        wanted = self.serving_account()
        core = _kubernetes("kubernetes.client").CoreV1Api(self._client)
        exceptions = _kubernetes("kubernetes.client.exceptions")
        try:
            account = core.read_namespaced_service_account(self.service_account, self.namespace)
        except exceptions.ApiException as exc:
            if exc.status != 404:
                raise BackendError(
                    f"the Kubernetes API of {self.cluster} refused to read service account "
                    f"{self.namespace}/{self.service_account}: {_status_message(exc)}"
                ) from exc
            raise ConfigError(
                f"service account {self.namespace}/{self.service_account} does not exist on "
                f"{self.cluster}: create the serving namespace with `pulumi up`"
            ) from exc
        bound = (account.metadata.annotations or {}).get(WORKLOAD_IDENTITY_ANNOTATION)
        if bound != wanted:
            raise ConfigError(
                f"service account {self.namespace}/{self.service_account} is bound to "
                f"{bound or 'no Google account'}, not {wanted}: pods would not act as the serving "
                "account (run `pulumi up`)"
            )
        return str(wanted)

    @override
    def _take_alias(self, ref: str, alias: str, reason: str, image: str | None) -> Deployment:
        from mlops_kit import models

        version = models.get_version(self.kit, ref)
        holder = holder_deployment(self.kit, version.name, alias).version
        # Approved after its canary: the pods follow the alias, the canary has done. This needs
        # no image, so it also clears what a failed call left of a canary.
        if holder == version.version:
            if self._remove_canary(version.name, alias):
                return self.status(version.name, alias)
            raise ConflictError(
                f"{version.name}@{alias} already is version {holder}: nothing to move"
            )
        image = self.serving_image(version.ref, image)
        self._serving_account()
        if holder is None:
            # A server needs a version to start: the first deployment moves the alias first.
            event = models.request_promotion(self.kit, version.ref, alias, reason)
            if event.action != "request":
                self._roll_out(version.name, alias, image)
        else:
            # The pods keep serving the current version in the new image, then follow the alias.
            self._roll_out(version.name, alias, image)
            event = models.request_promotion(self.kit, version.ref, alias, reason)
        if event.action != "request":
            # Awaiting approval, a canary keeps its share; once the alias moved, it has done.
            self._remove_canary(version.name, alias)
        return self.status(version.name, alias)

    def _roll_out(self, model: str, alias: str, image: str) -> None:
        """Apply the alias's Deployment, Service and autoscaler, and wait for the rollout.

        The route is created once, sending everything to the Service; a running canary keeps
        its weight (an update of the stable pods does not end it).
        """
        name = resource_name(model, alias)
        self._apply(self.deployment_body(model, alias, f"{model}@{alias}", image, "stable", None))
        self._apply(self.service_body(model, alias, "stable"))
        self._apply(self.health_check_body(name))
        self._apply(self.autoscaler_body(name))
        self._wait_for_rollout(name, image)
        if self._read("HTTPRoute", name) is None:
            self._apply(self.route_body(model, alias, None))

    def _apply(self, body: dict[str, Any]) -> None:
        """Create or update the object ``body`` by server-side apply, owned by the kit."""
        kind, name = body["kind"], body["metadata"]["name"]
        client = _kubernetes("kubernetes.client")
        if kind in _CUSTOM:
            call = client.CustomObjectsApi(self._apply_client).patch_namespaced_custom_object
            args: tuple[Any, ...] = (*_CUSTOM[kind][:2], self.namespace, _CUSTOM[kind][2], name)
        else:
            api, method = _APPLY[kind]
            call = getattr(getattr(client, api)(self._apply_client), method)
            args = (name, self.namespace)
        self._call(
            f"apply {kind} {name}", call, *args, body, field_manager=FIELD_MANAGER, force=True
        )

    def _read(self, kind: str, name: str) -> Any:
        """The custom object ``kind`` ``name`` (a dict), or ``None`` if it does not exist."""
        group, version, plural = _CUSTOM[kind]
        api = _kubernetes("kubernetes.client").CustomObjectsApi(self._client)
        return self._unless_absent(
            f"read {kind} {name}",
            api.get_namespaced_custom_object,
            group,
            version,
            self.namespace,
            plural,
            name,
        )

    def _delete(self, kind: str, name: str) -> bool:
        """Delete the object ``kind`` ``name``; whether it existed."""
        client = _kubernetes("kubernetes.client")
        if kind in _CUSTOM:
            group, version, plural = _CUSTOM[kind]
            call = client.CustomObjectsApi(self._client).delete_namespaced_custom_object
            args: tuple[Any, ...] = (group, version, self.namespace, plural, name)
        else:
            api, method = _DELETE[kind]
            call = getattr(getattr(client, api)(self._client), method)
            args = (name, self.namespace)
        return self._unless_absent(f"delete {kind} {name}", call, *args) is not None

    def _unless_absent(self, what: str, call: Any, *args: Any) -> Any:
        """``call(*args)`` through :meth:`_call`, or ``None`` when the object does not exist."""
        exceptions = _kubernetes("kubernetes.client.exceptions")
        try:
            return self._call(what, call, *args)
        except BackendError as exc:
            cause = exc.__cause__
            if isinstance(cause, exceptions.ApiException) and cause.status == 404:
                return None
            raise

    @override
    def _start_canary(
        self, version: ModelVersion, alias: str, share: float, image: str | None
    ) -> float:
        """Run ``version`` beside the alias's pods and route exactly ``share`` of it there."""
        weight = canary_weight(share)
        image = self.serving_image(version.ref, image)
        self._serving_account()
        model = version.name
        body = self.deployment_body(
            model, alias, version.ref, image, "canary", self.canary_replicas
        )
        try:
            self._apply(body)
            self._wait_for_rollout(body["metadata"]["name"], image)
            self._apply(self.service_body(model, alias, "canary"))
            self._apply(self.health_check_body(f"{resource_name(model, alias)}-canary"))
            # Last: the route sends traffic only to a backend that is ready for it.
            self._apply(self.route_body(model, alias, (version.version, weight)))
        except MlopsKitError as failed:
            # Nothing of a canary that does not take its share stays behind.
            try:
                self._remove_canary(model, alias)
            except BackendError as left:
                raise BackendError(f"{first_line(failed)}; then {left}") from failed
            raise
        return weight / 100

    def _remove_canary(self, model: str, alias: str) -> bool:
        """Take the alias's canary off its route, then delete it; whether there was one.

        Raises:
            BackendError: the cluster refused a step; the message names what is left and the
                command that removes it.
        """
        name = resource_name(model, alias)
        canary = f"{name}-canary"
        route = self._read("HTTPRoute", name)
        steps: list[tuple[str, Callable[[], bool]]] = []

        def stable_only() -> bool:
            self._apply(self.route_body(model, alias, None))
            return True

        if route is not None and canary_backend(route, name) is not None:
            steps.append((f"the route {name}'s weight for {canary}", stable_only))
        steps += [
            (f"Deployment {canary}", lambda: self._delete("Deployment", canary)),
            (f"Service {canary}", lambda: self._delete("Service", canary)),
            (
                f"HealthCheckPolicy {canary}-health",
                lambda: self._delete("HealthCheckPolicy", f"{canary}-health"),
            ),
        ]
        removed = False
        for index, (_, step) in enumerate(steps):
            try:
                removed = step() or removed
            except BackendError as exc:
                left = ", ".join(what for what, _ in steps[index:])
                holder = holder_deployment(self.kit, model, alias).version
                raise BackendError(
                    f"{exc}; left of the canary of {model}@{alias} in {self.namespace}: {left}: "
                    f"remove it with `mlops-kit deploy {model}@{holder} --alias {alias} "
                    f"--reason 'remove the canary'` once the cluster accepts the change"
                ) from exc
        return removed

    def _wait_for_rollout(self, name: str, image: str) -> None:
        """Wait until every pod of ``name`` runs its new template, as ``kubectl rollout status``.

        Raises:
            BackendError: the cluster refuses to create the pods (Binary Authorization names the
                fix), the rollout exceeds its progress deadline, or the timeout passes.
        """
        apps = _kubernetes("kubernetes.client").AppsV1Api(self._client)
        deadline = time.monotonic() + self.rollout_timeout
        while True:
            found = self._call(
                f"read Deployment {name}",
                apps.read_namespaced_deployment_status,
                name,
                self.namespace,
            )
            status = found.status
            for condition in status.conditions or ():
                self._refusal(name, image, condition)
            wanted = found.spec.replicas or 0
            if (status.observed_generation or 0) >= (found.metadata.generation or 0) and (
                (status.updated_replicas or 0) >= wanted
                and (status.available_replicas or 0) >= wanted
                and (status.replicas or 0) <= wanted
            ):
                return
            if time.monotonic() > deadline:
                raise BackendError(
                    f"Deployment {self.namespace}/{name} did not finish rolling out in "
                    f"{self.rollout_timeout:g} s: see `kubectl -n {self.namespace} describe "
                    f"deployment {name}`"
                )
            time.sleep(_POLL_SECONDS)

    def _refusal(self, name: str, image: str, condition: Any) -> None:
        if condition.type == "ReplicaFailure" and condition.status == "True":
            message = str(condition.message or "")
            environment = self.kit.environment
            refusal = refusal_from(message, image, environment.attestor, environment.attestor_key)
            if refusal is not None:
                raise refusal
            raise BackendError(
                f"the cluster cannot create the pods of {self.namespace}/{name}: "
                f"{first_line(Exception(message))}"
            )
        if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded":
            raise BackendError(
                f"Deployment {self.namespace}/{name} exceeded its progress deadline: "
                f"{first_line(Exception(condition.message))} (`kubectl -n {self.namespace} "
                f"describe deployment {name}`)"
            )

    @override
    def status(self, model: str, alias: str) -> Deployment:
        registry = holder_deployment(self.kit, model, alias)
        name = resource_name(model, alias)
        route = self._read("HTTPRoute", name)
        canary = canary_backend(route, name) if route is not None else None
        deployment = registry
        if route is not None and canary is not None:
            weights = [int(backend.get("weight", 1)) for backend in route_backends(route)]
            # Every weight 0 (set by hand) routes nothing: no share for the canary either.
            share = int(canary.get("weight", 1)) / sum(weights) if sum(weights) else 0.0
            version = self._canary_version(route, model, alias)
            how = f" (route {name} weights {'/'.join(map(str, weights))})"
            deployment = with_canary(registry, version, share, how)
        if route is None or self.url is None:
            return deployment
        # The route strips the alias's prefix: the server sees its own predict route.
        url = f"{self.url}/{name}{PREDICT_ROUTE}"
        return replace(deployment, detail=f"{deployment.detail}; served at {url}", url=url)

    def _canary_version(self, route: dict[str, Any], model: str, alias: str) -> int:
        """The version the route's canary backend serves: its annotation, else the registry's."""
        annotation = ((route.get("metadata") or {}).get("annotations") or {}).get(
            VERSION_ANNOTATION, ""
        )
        if str(annotation).isascii() and str(annotation).isdigit():
            return int(annotation)
        # The annotation was removed or edited by hand: the registry recorded the canary.
        from mlops_kit import models

        running = models.running_canary(self.kit, model, alias)
        if running is not None:
            return running.version
        raise BackendError(
            f"route {resource_name(model, alias)} sends traffic to a canary, but neither its "
            f"{VERSION_ANNOTATION} annotation nor the registry says which version: withdraw it "
            f"with `mlops-kit canary withdraw {model} --alias {alias} --reason ...`"
        )

    @override
    def _serve_holder(self, model: str, alias: str) -> None:
        self._remove_canary(model, alias)

    @override
    def _serve_rolled_back(self, model: str, alias: str, version: int) -> str:
        # The stable pods follow the alias; only a canary's pinned pods go.
        self._remove_canary(model, alias)
        return f": its pods on {self.cluster} follow it"

    # -- what is applied ----------------------------------------------------------------------------

    def deployment_body(
        self,
        model: str,
        alias: str,
        served: str,
        image: str,
        track: str,
        replicas: int | None,
    ) -> dict[str, Any]:
        """The Deployment of ``served`` (``NAME@ALIAS``, or ``NAME@VERSION`` for a canary).

        The stable Deployment sets no replica count: its autoscaler owns it.
        """
        name = resource_name(model, alias) + ("" if track == "stable" else f"-{track}")
        labels = _labels(resource_name(model, alias), track)
        annotations = {"mlops-kit.io/model": model, "mlops-kit.io/alias": alias}
        if track != "stable":
            annotations["mlops-kit.io/version"] = served.rpartition("@")[2]
        probe = {"httpGet": {"path": HEALTH_ROUTE, "port": "http"}, "periodSeconds": 10}
        spec: dict[str, Any] = {
            "selector": {"matchLabels": labels},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "serviceAccountName": self.service_account,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    # The server finishes the requests in flight when asked to stop.
                    "terminationGracePeriodSeconds": 30,
                    "containers": [
                        {
                            "name": "server",
                            "image": image,
                            "args": [
                                "serve",
                                served,
                                "--host",
                                "0.0.0.0",  # noqa: S104 - a pod's server listens on its own address
                                "--port",
                                str(SERVER_PORT),
                            ],
                            "env": [
                                {"name": name, "value": value}
                                for name, value in self.server_variables().items()
                            ],
                            "ports": [{"name": "http", "containerPort": SERVER_PORT}],
                            # Ready once a model is loaded; alive while the process answers.
                            "readinessProbe": probe,
                            "livenessProbe": {
                                **probe,
                                "httpGet": {"path": "/live", "port": "http"},
                                "failureThreshold": 6,
                            },
                            "startupProbe": {**probe, "periodSeconds": 5, "failureThreshold": 60},
                            "resources": RESOURCES,
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        }
        if replicas is not None:
            spec["replicas"] = replicas
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": labels,
                "annotations": annotations,
            },
            "spec": spec,
        }

    def service_body(self, model: str, alias: str, track: str) -> dict[str, Any]:
        """The Service of the alias's ``track`` (``stable`` or ``canary``) pods, a route backend."""
        name = resource_name(model, alias)
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name + ("" if track == "stable" else f"-{track}"),
                "namespace": self.namespace,
                "labels": _labels(name, track),
                "annotations": {"mlops-kit.io/model": model, "mlops-kit.io/alias": alias},
            },
            "spec": {
                "type": "ClusterIP",
                "selector": {"app.kubernetes.io/instance": name, "mlops-kit.io/track": track},
                "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http"}],
            },
        }

    def health_check_body(self, service: str) -> dict[str, Any]:
        """How the load balancer probes the pods of ``service``: the server's health route.

        GKE's default probe asks for ``/``, which the server does not answer.
        """
        return {
            "apiVersion": "networking.gke.io/v1",
            "kind": "HealthCheckPolicy",
            "metadata": {"name": f"{service}-health", "namespace": self.namespace},
            "spec": {
                "default": {
                    "config": {
                        "type": "HTTP",
                        "httpHealthCheck": {"port": SERVER_PORT, "requestPath": HEALTH_ROUTE},
                    }
                },
                "targetRef": {"group": "", "kind": "Service", "name": service},
            },
        }

    def route_body(self, model: str, alias: str, canary: tuple[int, int] | None) -> dict[str, Any]:
        """The alias's HTTPRoute: all to its Service, or ``canary`` (version, percent) split off.

        Requests to ``/<alias name>/...`` on the Gateway reach the server as ``/...``.
        """
        name = resource_name(model, alias)
        annotations = {"mlops-kit.io/model": model, "mlops-kit.io/alias": alias}
        backends: list[dict[str, Any]] = [{"name": name, "port": SERVICE_PORT, "weight": 100}]
        if canary is not None:
            version, weight = canary
            annotations[VERSION_ANNOTATION] = str(version)
            backends[0]["weight"] = 100 - weight
            backends.append({"name": f"{name}-canary", "port": SERVICE_PORT, "weight": weight})
        rewrite = {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}
        return {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": _labels(name, "stable"),
                "annotations": annotations,
            },
            "spec": {
                "parentRefs": [self.gateway],
                "rules": [
                    {
                        "matches": [{"path": {"type": "PathPrefix", "value": f"/{name}"}}],
                        "filters": [{"type": "URLRewrite", "urlRewrite": rewrite}],
                        "backendRefs": backends,
                    }
                ],
            },
        }

    def autoscaler_body(self, name: str) -> dict[str, Any]:
        """The autoscaler of the stable Deployment ``name``: pods by CPU."""
        return {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": MIN_REPLICAS,
                "maxReplicas": MAX_REPLICAS,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {
                                "type": "Utilization",
                                "averageUtilization": TARGET_CPU_UTILIZATION,
                            },
                        },
                    }
                ],
            },
        }


def canary_weight(share: float) -> int:
    """The route weight (of 100) that gives a canary ``share`` of the traffic.

    Raises:
        ConfigError: ``share`` is not a whole percentage from 1 to 99.
    """
    weight = round(share * 100) if math.isfinite(share) else 0
    if not 1 <= weight <= 99:
        raise ConfigError(
            f"the GKE target splits traffic by route weights in whole percents: give a canary a "
            f"share from 0.01 to 0.99, not {share}"
        )
    return weight


def route_backends(route: dict[str, Any]) -> list[dict[str, Any]]:
    """The backends of the (single) rule of an alias's route."""
    rules = route.get("spec", {}).get("rules") or [{}]
    return list(rules[0].get("backendRefs") or [])


def canary_backend(route: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The canary backend of the route of the alias ``name``, if it has one."""
    return next((b for b in route_backends(route) if b.get("name") == f"{name}-canary"), None)


def _status_message(exc: Any) -> str:
    """The ``message`` of the Status body of a Kubernetes API error, else its reason."""
    import json

    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return first_line(Exception(message or exc.reason or "no reason given"))
