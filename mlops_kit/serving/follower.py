"""Following an alias: promotions and rollbacks reach a running server without a restart.

A background thread looks up ``NAME@ALIAS`` every ``interval`` seconds. When it names another
version, the thread downloads it (every checksum verified), loads it and swaps it in; requests in
flight finish on the old one. A version that fails is not swapped in: the server keeps serving what
it has, reports the failure on its readiness route and metrics, logs it, and tries that version
again only after ``retry_after`` seconds (a transient outage heals, a corrupt artifact stays out).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlops_kit.errors import MlopsKitError, first_line
from mlops_kit.serving.holder import LoadFailure, ModelHolder, ServedModel, load_served_model

if TYPE_CHECKING:
    from mlops_kit.kit import Kit
    from mlops_kit.serving.metrics import ServingMetrics

log = logging.getLogger("mlops_kit.serving")


class AliasFollower:
    """Keeps ``holder`` serving the version ``NAME@ALIAS`` points at.

    Args:
        kit: the environment whose registry holds the model.
        name: the model.
        alias: the alias to follow.
        holder: where the loaded model goes.
        metrics: the server's metrics (version served, load failures).
        interval: seconds between two lookups.
    """

    def __init__(
        self,
        kit: Kit,
        name: str,
        alias: str,
        holder: ModelHolder,
        metrics: ServingMetrics,
        interval: float,
    ) -> None:
        self.kit = kit
        self.name = name
        self.alias = alias
        self.holder = holder
        self.metrics = metrics
        self.interval = interval
        self.retry_after = max(60.0, 10 * interval)
        self._failed_at: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def target(self) -> int | None:
        """The version the alias points at now (``None`` when the lookup fails; logged)."""
        from mlops_kit import models

        try:
            return models.get_version(self.kit, f"{self.name}@{self.alias}").version
        except MlopsKitError as exc:
            log.warning("cannot look up %s@%s: %s", self.name, self.alias, first_line(exc))
            return None

    def follow_once(self) -> bool:
        """Look up the alias and swap in its version if it changed; returns whether it swapped.

        A canary running on the alias is loaded beside it (or dropped once it ends).
        """
        swapped = self._follow_alias()
        self._follow_canary()
        return swapped

    def _follow_alias(self) -> bool:
        version = self.target()
        current = self.holder.current
        if version is None or (current is not None and current.version == version):
            if current is not None and current.version == version:
                self.holder.failure = None  # the alias came back to what is served
            return False
        served = self._load(version, current.ref if current is not None else "nothing")
        if served is None:
            return False
        previous = self.holder.swap(served)
        self.metrics.model_version.set(version)
        log.info(
            "serving %s (was %s), following %s@%s",
            served.ref,
            previous.ref if previous is not None else "nothing",
            self.name,
            self.alias,
        )
        return True

    def _follow_canary(self) -> None:
        from mlops_kit import models

        if self.alias.isdigit():
            return  # a pinned version has no canary
        try:
            canary = models.running_canary(self.kit, self.name, self.alias)
        except MlopsKitError as exc:
            log.warning("cannot look up the canary of %s@%s: %s", self.name, self.alias, exc)
            return
        held = self.holder.canary
        if canary is None:
            if held is not None:
                log.info("canary %s ended on %s@%s", held[0].ref, self.name, self.alias)
                self.holder.set_canary(None)
            return
        if held is not None and held[0].version == canary.version:
            self.holder.set_canary((held[0], canary.traffic_share))
            return
        served = self._load(canary.version, "no canary")
        if served is not None:
            self.holder.set_canary((served, canary.traffic_share))
            log.info(
                "canary %s takes %.0f%% of %s@%s",
                served.ref,
                100 * canary.traffic_share,
                self.name,
                self.alias,
            )

    def _load(self, version: int, kept: str) -> ServedModel | None:
        """``version`` loaded and verified, or ``None`` (the failure reported, retried later)."""
        failed = self._failed_at.get(version)
        if failed is not None and time.monotonic() - failed < self.retry_after:
            return None
        try:
            served = load_served_model(self.kit, self.name, version)
        except Exception as exc:  # noqa: BLE001 - a model's own code may raise anything on load
            self._failed_at[version] = time.monotonic()
            reason = first_line(exc)
            self.holder.failure = LoadFailure(version, reason, datetime.now(UTC))
            self.metrics.load_failures.labels(str(version)).inc()
            log.error(
                "%s@%s not swapped in, still serving %s: %s", self.name, version, kept, reason
            )
            return None
        self._failed_at.pop(version, None)
        return served

    def start(self) -> None:
        """Follow in a background thread, the first lookup right away."""
        self._thread = threading.Thread(target=self._run, name="alias-follower", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.follow_once()
        while not self._stop.wait(self.interval):
            self.follow_once()

    def stop(self) -> None:
        """Stop following (waits for a load in progress)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
