"""The ``vertex-endpoint://PROJECT/LOCATION/ENDPOINT`` deploy target: a Vertex AI endpoint.

Each deployed version is a Vertex model (uploaded once, found again by its labels) whose container
is the serving image by digest running ``mlops-kit serve NAME@VERSION``, with the version's
artifact URI; the endpoint's traffic split decides which version answers. A full deployment puts
the version on 100 % and undeploys the others; a canary deploys it beside the alias's version with
its share. Vertex pins versions, so on a protected alias the version is rolled out once approved
(run the deployment again). One endpoint serves one model alias.

Predictions (:meth:`VertexEndpointTarget.predict`) go where the endpoint takes them: a dedicated
endpoint answers only on its own DNS name (``ENDPOINT.LOCATION-PROJECT_NUMBER.prediction.vertexai.goog``,
read from the endpoint), a Private Service Connect endpoint only through the consumer's forwarding
rule (``predict_host``), a public one on the regional API host. Deploying, undeploying and traffic
splits always go through the regional API.

Query parameters: ``api_endpoint`` (another host than ``LOCATION-aiplatform.googleapis.com`` for
the management calls, a Private Service Connect address of Google APIs for example),
``predict_host`` (where predictions go: the forwarding rule's address or DNS name, ``mlops-kit env
import`` writes it from the stack), ``machine_type`` (default ``n1-standard-2``), ``min_replicas``
(1) and ``max_replicas`` (3). Every google-cloud-aiplatform call is in this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final

from typing_extensions import override

from mlops_kit.deploy_targets import ContainerTarget, Deployment, holder_deployment, with_canary
from mlops_kit.errors import BackendError, ConfigError, ConflictError, first_line, shorten
from mlops_kit.gcp import (
    google_errors,
    require_google_credentials,
    vertex_api_endpoint,
    vertex_label,
    vertex_sdk,
)
from mlops_kit.images import HEALTH_ROUTE, PREDICT_ROUTE, SERVER_PORT

if TYPE_CHECKING:
    from mlops_kit.models import ModelVersion

_PURPOSE: Final = "the Vertex AI endpoint deploy target"
OPERATION_TIMEOUT: Final = 3600
"""Seconds a deployment may take: Vertex AI starts the machines and waits for readiness."""
PREDICT_TIMEOUT: Final = 60
"""Seconds a prediction request may take."""
_HOST: Final = re.compile(
    r"(https?://)?[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:[0-9]{1,5})?"
)


def _int(query: dict[str, str], key: str, default: int) -> int:
    value = query.get(key, str(default))
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(
            f"{key} in deploy URI must be a whole number from 1, not {shorten(value)!r}"
        )
    return int(value)


class VertexEndpointTarget(ContainerTarget):
    """Deploys versions to one Vertex AI endpoint and splits its traffic between them."""

    form = "vertex-endpoint://PROJECT/LOCATION/ENDPOINT"

    def __init__(self, uri: str, kit: Any) -> None:
        super().__init__(uri, kit)
        segments, query = self.uri_parts()
        self.project, self.location, self.endpoint_id = segments
        self.api_endpoint = vertex_api_endpoint(uri, self.location)
        self.predict_host = query.get("predict_host")
        if self.predict_host is not None and not _HOST.fullmatch(self.predict_host):
            raise ConfigError(
                f"predict_host in deploy URI must be a host name or address such as 10.10.0.5 "
                f"(your forwarding rule's), not {shorten(self.predict_host)!r}"
            )
        self.machine_type = query.get("machine_type", "n1-standard-2")
        self.min_replicas = _int(query, "min_replicas", 1)
        self.max_replicas = max(self.min_replicas, _int(query, "max_replicas", 3))
        self.parent = f"projects/{self.project}/locations/{self.location}"
        self.endpoint = f"{self.parent}/endpoints/{self.endpoint_id}"

    # The REST transport: what Private Service Connect endpoints and proxies pass through.
    @cached_property
    def _models(self) -> Any:
        return vertex_sdk(_PURPOSE).ModelServiceClient(
            transport="rest", client_options={"api_endpoint": self.api_endpoint}
        )

    @cached_property
    def _endpoints(self) -> Any:
        return vertex_sdk(_PURPOSE).EndpointServiceClient(
            transport="rest", client_options={"api_endpoint": self.api_endpoint}
        )

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        """``call()``; a refusal of Vertex AI turned into one line."""
        try:
            return call()
        except google_errors() as exc:
            raise BackendError(
                f"Vertex AI refused to {what} on {self.endpoint}: {first_line(exc)}"
            ) from exc

    def _read_endpoint(self) -> Any:
        return self._call(
            "read the endpoint", lambda: self._endpoints.get_endpoint(name=self.endpoint)
        )

    @override
    def check(self) -> str:
        require_google_credentials("Vertex AI", package="google-cloud-aiplatform", extra="vertex")
        endpoint = self._read_endpoint()
        return f"Vertex AI endpoint {endpoint.display_name} ({self.endpoint})"

    @override
    def _predict(self, instances: list[Any]) -> dict[str, Any]:
        from google.protobuf import json_format, struct_pb2

        host = self._prediction_host()
        client = vertex_sdk(_PURPOSE).PredictionServiceClient(
            transport="rest", client_options={"api_endpoint": host}
        )
        values = [json_format.ParseDict(instance, struct_pb2.Value()) for instance in instances]
        response = self._call(
            f"answer a prediction request at {shorten(host)}",
            lambda: client.predict(
                endpoint=self.endpoint, instances=values, timeout=PREDICT_TIMEOUT
            ),
        )
        answer: dict[str, Any] = json_format.MessageToDict(type(response).pb(response))
        return answer

    def _prediction_host(self) -> str:
        """Where predictions go: ``predict_host``, else where the endpoint says it takes them."""
        if self.predict_host:
            return self.predict_host
        endpoint = self._read_endpoint()
        if endpoint.dedicated_endpoint_dns:
            # Vertex AI refuses a dedicated endpoint's predictions on the regional host.
            return str(endpoint.dedicated_endpoint_dns)
        if endpoint.private_service_connect_config.enable_private_service_connect:
            raise ConfigError(
                f"Vertex AI endpoint {self.endpoint_id} takes predictions only through Private "
                "Service Connect: add ?predict_host=ADDRESS (your forwarding rule's) to the deploy "
                "URI, or set vertexEndpoint.predictHost in the stack and `mlops-kit env import` again"
            )
        return self.api_endpoint

    # -- what the endpoint serves -------------------------------------------------------------------

    def _served(self, model: str) -> dict[int, tuple[str, int]]:
        """Version → (deployed model id, traffic percent) of ``model`` on the endpoint.

        Raises:
            ConflictError: the endpoint serves another model.
        """
        endpoint = self._read_endpoint()
        served: dict[int, tuple[str, int]] = {}
        for deployed in endpoint.deployed_models:
            name, _, version = deployed.display_name.rpartition("@")
            if name != model or not version.isdigit():
                raise ConflictError(
                    f"Vertex AI endpoint {self.endpoint_id} serves {deployed.display_name}, not "
                    f"{model}: deploy {model} to an endpoint of its own"
                )
            served[int(version)] = (deployed.id, int(endpoint.traffic_split.get(deployed.id, 0)))
        return served

    def _vertex_model(self, ref: str, image: str | None) -> str:
        """The Vertex model of ``ref`` in ``image`` (``None``: any): found by labels, or uploaded.

        Raises:
            ConfigError: the artifacts are not in GCS, or no image is known for an upload.
        """
        from mlops_kit import models

        version = models.get_version(self.kit, ref)
        if not version.artifact_uri.startswith("gs://"):
            raise ConfigError(
                f"{version.ref} is stored at {shorten(version.artifact_uri)}: Vertex AI reads "
                "models from gs:// only"
            )
        labels = {
            "mlops-kit-model": vertex_label(version.name),
            "mlops-kit-version": str(version.version),
        }
        if image is not None:
            labels["mlops-kit-image"] = image.rpartition(":")[2][:16]
        wanted = " AND ".join(f'labels.{key}="{value}"' for key, value in labels.items())
        found = self._call(
            "list models",
            lambda: list(
                self._models.list_models(request={"parent": self.parent, "filter": wanted})
            ),
        )
        if found:
            return str(found[0].name)
        image = image or self.serving_image(version.ref, None)
        labels["mlops-kit-image"] = image.rpartition(":")[2][:16]
        aiplatform_v1 = vertex_sdk(_PURPOSE)
        container = aiplatform_v1.ModelContainerSpec(
            image_uri=image,
            args=["serve", version.ref, "--host", "0.0.0.0"],  # noqa: S104 - the container's own address
            env=[
                aiplatform_v1.EnvVar(name=name, value=value)
                for name, value in self.server_variables().items()
            ],
            ports=[aiplatform_v1.Port(container_port=SERVER_PORT)],
            predict_route=PREDICT_ROUTE,
            health_route=HEALTH_ROUTE,
        )
        request = aiplatform_v1.UploadModelRequest(
            parent=self.parent,
            model=aiplatform_v1.Model(
                display_name=version.ref,
                description=f"{version.ref} of the mlops-kit registry, served by {image}",
                artifact_uri=version.artifact_uri,
                container_spec=container,
                labels=labels,
            ),
        )
        uploaded = self._call(
            f"upload {version.ref}",
            lambda: self._models.upload_model(request=request).result(timeout=OPERATION_TIMEOUT),
        )
        return str(uploaded.model)

    def _deploy(self, ref: str, image: str | None, split: dict[str, int]) -> str:
        """Deploy ``ref`` with ``split`` (``"0"`` is the new model); its deployed model id."""
        aiplatform_v1 = vertex_sdk(_PURPOSE)
        account = self.serving_account()  # before anything is uploaded
        deployed = aiplatform_v1.DeployedModel(
            model=self._vertex_model(ref, image),
            display_name=ref,
            service_account=account,
            dedicated_resources=aiplatform_v1.DedicatedResources(
                machine_spec=aiplatform_v1.MachineSpec(machine_type=self.machine_type),
                min_replica_count=self.min_replicas,
                max_replica_count=self.max_replicas,
            ),
        )
        response = self._call(
            f"deploy {ref}",
            lambda: self._endpoints.deploy_model(
                endpoint=self.endpoint, deployed_model=deployed, traffic_split=split
            ).result(timeout=OPERATION_TIMEOUT),
        )
        return str(response.deployed_model.id)

    def _serve_only(self, model: str, version: int, image: str | None) -> None:
        """Give ``version`` all of the traffic, deploying it if needed, and undeploy the others."""
        served = self._served(model)
        if version in served:
            kept = served.pop(version)[0]
        else:
            kept = self._deploy(
                f"{model}@{version}",
                image,
                {"0": 100, **dict.fromkeys((i for i, _ in served.values()), 0)},
            )
        for deployed_id, _ in served.values():
            self._undeploy(deployed_id, {kept: 100})

    def _undeploy(self, deployed_id: str, split: dict[str, int]) -> None:
        """Take ``deployed_id`` off the endpoint; ``split`` is the traffic after it."""
        self._call(
            f"undeploy {deployed_id}",
            lambda: self._endpoints.undeploy_model(
                endpoint=self.endpoint, deployed_model_id=deployed_id, traffic_split=split
            ).result(timeout=OPERATION_TIMEOUT),
        )

    # -- the contract --------------------------------------------------------------------------------

    @override
    def _take_alias(self, ref: str, alias: str, reason: str, image: str | None) -> Deployment:
        from mlops_kit import models

        version = models.get_version(self.kit, ref)
        image = self.serving_image(version.ref, image)
        holder = holder_deployment(self.kit, version.name, alias).version
        if holder != version.version and models.is_protected(self.kit, alias):
            models.request_promotion(self.kit, version.ref, alias, reason)
            return self.status(version.name, alias)
        served = self._served(version.name)
        if holder == version.version and served.get(version.version, ("", 0))[1] == 100:
            raise ConflictError(
                f"{version.name}@{alias} already is version {holder}: nothing to move"
            )
        self._serve_only(version.name, version.version, image)
        if holder != version.version:
            models.promote(self.kit, version.ref, alias, reason)
        return self.status(version.name, alias)

    @override
    def _start_canary(
        self, version: ModelVersion, alias: str, share: float, image: str | None
    ) -> float:
        percent = round(share * 100)
        if not 1 <= percent <= 99:
            raise ConfigError(
                f"Vertex AI splits traffic in whole percent: a canary share must be 0.01 to 0.99, "
                f"not {share}"
            )
        image = self.serving_image(version.ref, image)
        holder = holder_deployment(self.kit, version.name, alias).version
        served = self._served(version.name)
        if holder not in served:
            raise ConflictError(
                f"{version.name}@{alias} is not served by endpoint {self.endpoint_id} yet: deploy "
                "a version to all of its traffic before a canary"
            )
        if version.version in served:
            raise ConflictError(
                f"{version.ref} is already deployed on endpoint {self.endpoint_id}: withdraw it "
                "or deploy it to all of the traffic"
            )
        split = {deployed_id: 0 for deployed_id, _ in served.values()}
        split[served[holder][0]] = 100 - percent
        self._deploy(version.ref, image, {"0": percent, **split})
        return percent / 100

    @override
    def status(self, model: str, alias: str) -> Deployment:
        registry = holder_deployment(self.kit, model, alias)
        served = self._served(model)
        if registry.version is None or registry.version not in served:
            return registry
        canary = next(
            (v for v, (_, percent) in served.items() if v != registry.version and percent), None
        )
        if canary is None:
            return replace(registry, traffic_share=served[registry.version][1] / 100)
        return with_canary(registry, canary, served[canary][1] / 100)

    @override
    def _serve_holder(self, model: str, alias: str) -> None:
        holder = holder_deployment(self.kit, model, alias).version
        if holder is not None:
            self._serve_only(model, holder, None)

    @override
    def _serve_rolled_back(self, model: str, alias: str, version: int) -> str:
        # The version's Vertex model is found again with the image it was served in.
        self._serve_only(model, version, None)
        return f" on endpoint {self.endpoint_id}"
