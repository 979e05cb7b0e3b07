"""The ``local`` deploy target: deploying moves the alias, the serving processes follow it."""

from __future__ import annotations

from typing_extensions import override

from mlops_kit.errors import ConfigError
from mlops_kit.serving.targets import Deployment, DeployTarget, alias_deployment


class AliasTarget(DeployTarget):
    """Deploys by moving the alias in the registry; ``mlops-kit serve NAME@ALIAS`` swaps it in.

    One version serves an alias at a time: a traffic share other than 1 needs a target that runs
    two versions side by side.
    """

    @override
    def check(self) -> str:
        return "local: deploying moves the alias; every `mlops-kit serve NAME@ALIAS` follows it"

    @override
    def deploy(
        self,
        ref: str,
        *,
        alias: str,
        reason: str,
        traffic_share: float = 1.0,
        image: str | None = None,
    ) -> Deployment:
        from mlops_kit import models

        if traffic_share != 1.0:
            raise ConfigError(
                f"the local target serves one version per alias: traffic_share must be 1, "
                f"not {traffic_share}"
            )
        event = models.request_promotion(self.kit, ref, alias, reason)
        if event.action == "request":
            return self.status(event.model, alias)
        return Deployment(
            event.model,
            alias,
            event.to_version,
            1.0,
            "serving",
            f"{event.model}@{alias} -> version {event.to_version}: serving processes follow it",
        )

    @override
    def status(self, model: str, alias: str) -> Deployment:
        return alias_deployment(self.kit, model, alias)

    @override
    def rollback(self, model: str, alias: str, *, reason: str) -> Deployment:
        from mlops_kit import models

        event = models.rollback(self.kit, model, alias, reason=reason)
        return Deployment(
            model,
            alias,
            event.to_version,
            1.0,
            "serving",
            f"{model}@{alias} rolled back {event.from_version} -> {event.to_version}",
        )
