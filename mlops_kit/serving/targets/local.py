"""The ``local`` deploy target: deploying moves the alias, the serving processes follow it."""

from __future__ import annotations

from datetime import UTC, datetime

from typing_extensions import override

from mlops_kit.errors import ConfigError
from mlops_kit.serving.targets import Deployment, DeployTarget


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
        self, ref: str, *, alias: str, reason: str, traffic_share: float = 1.0
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
        from mlops_kit import models

        version = models.holder_at(self.kit, model, alias, datetime.now(UTC))
        pending = models.pending_request(self.kit, model, alias)
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
