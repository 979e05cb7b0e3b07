"""The deploy-target role: where a model version is put in front of traffic.

The environment's ``deploy`` URI picks the target by scheme, like the other roles:

- ``local`` moves the alias in the registry, and every ``mlops-kit serve NAME@ALIAS`` process (on
  this machine, in a container, on a cluster) follows it within its follow interval;
- ``gke://PROJECT/LOCATION/CLUSTER/NAMESPACE`` rolls the serving image out on a GKE cluster
  (Deployment, Service, HorizontalPodAutoscaler, HTTPRoute) through the Kubernetes API, then moves
  the alias its pods follow; a canary's share is its route weight;
- ``vertex-endpoint://PROJECT/LOCATION/ENDPOINT`` uploads the version as a Vertex AI model in the
  serving image and deploys it to the endpoint, whose traffic split decides which version answers.

Every target moves the alias through the registry, so the alias history records each deployment.
Installed packages add targets in the entry-point group ``mlops_kit.deploy``. Each target's
platform SDK is imported in its own module, on first use.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, final
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from mlops_kit.backends import Backend, SchemeRegistry
from mlops_kit.environments import ENV_VAR_NAME, role_env_var
from mlops_kit.errors import ConfigError, shorten
from mlops_kit.images import PREDICT_ROUTE, pinned_image

if TYPE_CHECKING:
    from mlops_kit.kit import Kit
    from mlops_kit.models import ModelVersion

DeploymentState = Literal["serving", "awaiting approval"]


@dataclass(frozen=True)
class Deployment:
    """What a target serves under one alias of a model."""

    model: str
    alias: str
    version: int | None
    """The version that takes the traffic (``None`` before the first deployment)."""
    traffic_share: float
    state: DeploymentState
    detail: str
    """One line for people: what happened or what is awaited."""
    pending_version: int | None = None
    """A version requested on a protected alias, awaiting approval."""
    canary_version: int | None = None
    """A version taking the rest of the traffic (``1 - traffic_share``) while it is checked."""
    url: str | None = None
    """Where clients send the alias's predictions, when the target knows it."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)


class DeployTarget(Backend):
    """Where model versions are deployed.

    Args:
        uri: the environment's ``deploy`` URI.
        kit: the environment whose registry holds the versions.
    """

    def __init__(self, uri: str, kit: Kit) -> None:
        super().__init__(uri)
        self.kit = kit
        self.dry_run_command = kit.dry_run_command

    @final
    def deploy(
        self,
        ref: str,
        *,
        alias: str,
        reason: str,
        traffic_share: float = 1.0,
        image: str | None = None,
    ) -> Deployment:
        """Put the version ``ref`` (``NAME@VERSION``) behind ``alias`` with ``traffic_share``.

        On a protected alias the deployment waits for an approval (state ``awaiting approval``).
        A canary (a share below 1) starts on the platform first (:meth:`_start_canary`); the
        registry records it once the platform serves it.

        Args:
            ref: the version to deploy.
            alias: the alias it serves.
            reason: why (kept in the alias history).
            traffic_share: the share of the alias's traffic the version takes.
            image: the serving image, named by digest (``REPOSITORY@sha256:...``), on targets that
                run containers; default: the image recorded with the version.

        Raises:
            NotFoundError: the version does not exist or is not ready, or a canary has no holder
                of the alias to share the traffic with.
            ConflictError: the version already serves the alias.
            ConfigError: the target cannot give the version that share of the traffic, or it needs
                an image named by digest and has none.
            BackendError: the platform refused the deployment; the message says how to fix it.
            DryRunEnded: the kit is in a dry run; nothing is deployed.
        """
        from mlops_kit import models

        if not 0.0 < traffic_share <= 1.0:
            raise ConfigError(f"traffic_share must be above 0 and at most 1, not {traffic_share}")
        self.refuse_change(f"deploy {ref} to {alias!r} through {self._where()}")
        if traffic_share == 1.0:
            return self._take_alias(ref, alias, reason, image)
        version = models.get_version(self.kit, ref)
        holder = holder_deployment(self.kit, version.name, alias).version
        models.check_proposal(version.name, alias, "canary", holder, version.version)
        share = self._start_canary(version, alias, traffic_share, image)
        models.start_canary(self.kit, version.ref, alias, share, reason)
        return self.status(version.name, alias)

    @abstractmethod
    def _take_alias(self, ref: str, alias: str, reason: str, image: str | None) -> Deployment:
        """Give ``ref`` all of ``alias``'s traffic, as :meth:`deploy` with a share of 1 says."""

    def _start_canary(
        self, version: ModelVersion, alias: str, share: float, image: str | None
    ) -> float:
        """Serve ``version`` beside the alias's holder on the platform; the share it takes there.

        By default nothing, and ``share``: the ``serve`` processes follow the registry's canary.

        Raises:
            ConflictError: the platform does not serve the holder, or already serves ``version``.
            ConfigError: the platform cannot split the traffic that way.
        """
        return share

    @abstractmethod
    def status(self, model: str, alias: str) -> Deployment:
        """What serves ``alias`` of ``model`` now.

        Raises:
            NotFoundError: the model does not exist.
        """

    @final
    def withdraw_canary(self, model: str, alias: str, *, reason: str) -> Deployment:
        """Take the canary of ``alias`` off the traffic: its holder serves all of it again.

        The registry records the withdrawal first; then the platform follows
        (:meth:`_serve_holder`).

        Raises:
            NotFoundError: the model does not exist.
            ConflictError: no canary runs on the alias.
            DryRunEnded: the kit is in a dry run; nothing is withdrawn.
        """
        from mlops_kit import models

        self.refuse_change(f"withdraw the canary of {model}@{alias} from {self._where()}")
        event = models.withdraw_canary(self.kit, model, alias, reason)
        self._serve_holder(model, alias)
        deployment = self.status(model, alias)
        return replace(
            deployment,
            detail=f"{model}@{event.from_version} withdrawn from {alias}: {deployment.detail}",
        )

    @final
    def rollback(self, model: str, alias: str, *, reason: str) -> Deployment:
        """Serve the previous version of ``alias`` again, in one step (no approval).

        The registry moves the alias back first; then the platform follows
        (:meth:`_serve_rolled_back`).

        Raises:
            NotFoundError: the alias was never deployed.
            ConflictError: there is no previous version.
            IntegrityError: the previous version's artifact is missing or altered.
            DryRunEnded: the kit is in a dry run; nothing is rolled back.
        """
        from mlops_kit import models

        self.refuse_change(f"roll {model}@{alias} back on {self._where()}")
        event = models.rollback(self.kit, model, alias, reason=reason)
        where = self._serve_rolled_back(model, alias, event.to_version)
        deployment = self.status(model, alias)
        return Deployment(
            model,
            alias,
            event.to_version,
            deployment.traffic_share,
            deployment.state,
            f"{model}@{alias} rolled back {event.from_version} -> {event.to_version}{where}",
        )

    @final
    def predict(self, instances: list[Any]) -> dict[str, Any]:
        """Send ``instances`` to the model the target serves; the platform's answer.

        Only a target whose platform answers predictions itself implements :meth:`_predict`;
        the servers of the others answer on their own address.

        Returns:
            ``{"predictions": [...], ...}`` as the platform answers.

        Raises:
            ConfigError: the target sends no predictions, or does not know where to send them.
            BackendError: the platform refused the request.
            DryRunEnded: the kit is in a dry run; nothing is sent (the server would log it).
        """
        if type(self)._predict is not DeployTarget._predict:
            self.refuse_change(
                f"send {len(instances)} instances to {self._where()}, whose server logs them"
            )
        return self._predict(instances)

    def _predict(self, instances: list[Any]) -> dict[str, Any]:
        """Send ``instances`` to the platform; a target that sends none refuses in one line."""
        raise ConfigError(
            f'{self._where()} sends no predictions itself: POST {{"instances": [...]}} to the '
            f"{PREDICT_ROUTE} route of the `mlops-kit serve` process that serves the model"
        )

    def _where(self) -> str:
        return f"the deploy target {shorten(self.uri)}"

    def _serve_holder(self, model: str, alias: str) -> None:
        """Give the alias's holder all of its traffic on the platform, after a withdrawal.

        By default nothing: the ``serve`` processes follow the registry.
        """

    def _serve_rolled_back(self, model: str, alias: str, version: int) -> str:
        """Serve ``version`` on the platform after a rollback; the detail's suffix saying where.

        By default nothing, and no suffix: the ``serve`` processes follow the registry.
        """
        return ""


DEPLOY_TARGETS: SchemeRegistry[DeployTarget] = SchemeRegistry("deploy", DeployTarget)
DEPLOY_TARGETS.register(["local"], "mlops_kit.deploy_targets.local:AliasTarget", bare_word=True)
DEPLOY_TARGETS.register(["gke"], "mlops_kit.deploy_targets.gke:GkeTarget")
DEPLOY_TARGETS.register(["vertex-endpoint"], "mlops_kit.deploy_targets.vertex:VertexEndpointTarget")


def holder_deployment(kit: Kit, model: str, alias: str) -> Deployment:
    """What the registry says holds ``alias`` of ``model``: its holder, or a pending request.

    A canary is left out: each target reports the one its platform runs (:func:`with_canary`).

    Raises:
        NotFoundError: the model does not exist.
    """
    from mlops_kit import models

    version = models.holder_at(kit, model, alias, datetime.now(UTC))
    pending = models.pending_request(kit, model, alias)
    if pending is not None:
        return Deployment(
            model,
            alias,
            version,
            1.0,
            "awaiting approval",
            f"{model}@{pending.to_version} awaits approval for {alias!r}, requested by "
            f"{pending.actor}: `mlops-kit models approve {model} --alias {alias}`",
            pending_version=pending.to_version,
        )
    detail = (
        f"{model}@{alias} is version {version}"
        if version is not None
        else f"nothing deployed to {model}@{alias} yet"
    )
    return Deployment(model, alias, version, 1.0, "serving", detail)


def with_canary(deployment: Deployment, version: int, share: float, how: str = "") -> Deployment:
    """``deployment`` with the canary ``version`` taking ``share`` of its traffic.

    Args:
        deployment: what holds the alias, without a canary (:func:`holder_deployment`).
        version: the canary version.
        share: its share of the alias's traffic.
        how: what the platform says of the split, appended to the detail.
    """
    return replace(
        deployment,
        traffic_share=1.0 - share,
        detail=f"{deployment.detail}; canary version {version} takes {share:.0%} of the "
        f"traffic{how}",
        canary_version=version,
    )


def alias_deployment(kit: Kit, model: str, alias: str) -> Deployment:
    """What the registry says serves ``alias`` of ``model``: holder and canary, or a request.

    Raises:
        NotFoundError: the model does not exist.
    """
    from mlops_kit import models

    deployment = holder_deployment(kit, model, alias)
    if deployment.pending_version is not None:
        return deployment
    canary = models.running_canary(kit, model, alias)
    if canary is None:
        return deployment
    return with_canary(deployment, canary.version, canary.traffic_share)


class ContainerTarget(DeployTarget):
    """A target that runs the kit's serving image on a cloud platform.

    Its URI names the platform in path segments (:attr:`form`); its containers run the image by
    digest, with :meth:`server_variables`, as the environment's ``serving`` service account.
    """

    form: ClassVar[str]
    """The URI's form, such as ``gke://PROJECT/LOCATION/CLUSTER/NAMESPACE``."""

    def uri_parts(self) -> tuple[list[str], dict[str, str]]:
        """The segments of the URI (its host, then its path) and its query parameters.

        Returns:
            The segments, as many as :attr:`form` names, and the last value of each parameter.

        Raises:
            ConfigError: the URI has another number of segments, or an empty one.
        """
        parts = urlsplit(self.uri)
        segments = [parts.netloc, *parts.path.strip("/").split("/")]
        if len(segments) != len(self.form.partition("://")[2].split("/")) or not all(segments):
            raise ConfigError(f"malformed deploy URI {shorten(self.uri)!r}: use {self.form!r}")
        return segments, {key: values[-1] for key, values in parse_qs(parts.query).items()}

    def serving_image(self, ref: str, image: str | None) -> str:
        """The image that serves ``ref``: ``image``, else the one recorded with the version.

        Raises:
            ConfigError: neither names an image by digest.
        """
        from mlops_kit import models

        if image:
            return pinned_image(image)
        recorded = models.get_version(self.kit, ref).components.get("image", {}).get("image")
        if not recorded or "@" not in recorded:
            raise ConfigError(
                f"{ref} records no serving image: pass one by digest (--image "
                "REPOSITORY@sha256:...), or register the version with --image-digest "
                "IMAGE@sha256:..."
            )
        return pinned_image(recorded)

    def serving_account(self) -> str:
        """The Google service account the containers act as: the environment's ``serving``.

        Raises:
            ConfigError: the environment names none.
        """
        environment = self.kit.environment
        account = environment.service_accounts.get("serving")
        if not account:
            raise ConfigError(
                f"environment {environment.name!r} names no 'serving' service account: "
                "re-import it with `mlops-kit env import`"
            )
        return account

    def server_variables(self) -> dict[str, str]:
        """The environment variables of a serving container.

        The image carries the environment files: the variable names the environment. On Cloud SQL
        the server reaches the metadata database as the ``serving`` account, which the containers
        act as, not as the pipeline runner the environment file names.
        """
        environment = self.kit.environment
        variables = {ENV_VAR_NAME: environment.name}
        serving = environment.service_accounts.get("serving")
        parts = urlsplit(environment.metadata)
        if serving and parts.scheme == "cloudsql":
            query = parse_qs(parts.query) | {"iam_user": [serving]}
            metadata = urlunsplit(parts._replace(query=urlencode(query, doseq=True, safe="@:/")))
            variables[role_env_var("metadata")] = metadata
        return variables


def read_instances(path: Path) -> list[Any]:
    """The instances of a prediction request in ``path``: ``{"instances": [...]}`` or a list.

    Raises:
        NotFoundError: the file does not exist.
        ConfigError: it is not JSON, holds no list of instances, or a number JSON cannot carry.
    """
    from mlops_kit.files import read_json

    data = read_json(path, "instances file", 'write {"instances": [{...}, ...]}')
    instances = data.get("instances") if isinstance(data, dict) else data
    if not isinstance(instances, list) or not instances:
        raise ConfigError(
            f"instances file {shorten(str(path))!r} holds no instances: write "
            '{"instances": [{...}, ...]} (the body of a prediction request) or a JSON list'
        )
    try:
        # Python reads NaN, Infinity and 1e400 as floats; no platform's JSON carries them.
        json.dumps(instances, allow_nan=False)
    except ValueError as exc:
        raise ConfigError(
            f"instances file {shorten(str(path))!r} holds NaN or an infinite number: write "
            "finite numbers (or null for a missing value)"
        ) from exc
    return instances


def open_deploy_target(kit: Kit) -> DeployTarget:
    """The deploy target of ``kit``'s environment.

    Raises:
        UnknownSchemeError: no target serves the ``deploy`` URI's scheme; the message lists them.
    """
    uri = kit.environment.deploy
    return DEPLOY_TARGETS.resolve(uri)(uri, kit)
