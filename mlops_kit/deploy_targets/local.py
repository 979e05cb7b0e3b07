"""The ``local`` deploy target: deploying moves the alias, the serving processes follow it."""

from __future__ import annotations

from typing_extensions import override

from mlops_kit.deploy_targets import Deployment, DeployTarget, alias_deployment


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
    def _take_alias(self, ref: str, alias: str, reason: str, image: str | None) -> Deployment:
        from mlops_kit import models

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
