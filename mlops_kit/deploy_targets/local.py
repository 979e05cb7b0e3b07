"""The ``local`` deploy target: deploying moves the alias, the serving processes follow it."""

from __future__ import annotations

from typing_extensions import override

from mlops_kit.deploy_targets import Deployment, DeployTarget, alias_deployment
from mlops_kit.errors import ConfigError


class AliasTarget(DeployTarget):
    """Deploys by moving the alias in the registry; ``mlops-kit serve NAME@ALIAS`` swaps it in.

    A canary is recorded in the alias history: every serving process of the alias loads the canary
    version beside the holder and answers that share of its requests with it. The ``image`` is not
    used: the serving processes run wherever they were started.
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

        if traffic_share < 1.0:
            models.start_canary(self.kit, ref, alias, traffic_share, reason)
            return self.status(models.ModelRef.parse(ref).name, alias)
        if traffic_share != 1.0:
            raise ConfigError(f"traffic_share must be above 0 and at most 1, not {traffic_share}")
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
