"""The model a serving process answers with, replaced atomically.

A request takes :meth:`ModelHolder.pick` once and predicts, validates and logs with that
:class:`ServedModel` to the end: a swap in between replaces the reference for the next request
while the request in flight finishes on the old version. While a canary runs on the alias, the
holder also keeps the canary version and answers that share of the requests with it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_kit.serving.schema import InputSchema

if TYPE_CHECKING:
    from mlops_kit.kit import Kit
    from mlops_kit.models import LoadedModel


@dataclass(frozen=True)
class ServedModel:
    """A loaded, verified model version with the schema of its inputs."""

    name: str
    version: int
    model: LoadedModel
    schema: InputSchema
    loaded_at: datetime

    @property
    def ref(self) -> str:
        """``NAME@VERSION``."""
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class LoadFailure:
    """A version the process could not load or verify, and why."""

    version: int
    reason: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {"version": self.version, "reason": self.reason, "at": self.at.isoformat()}


def load_served_model(kit: Kit, name: str, version: int) -> ServedModel:
    """Download ``NAME@VERSION`` (every checksum verified), load it and read its training schema.

    Raises:
        NotFoundError: the version, or its training data version, does not exist.
        IntegrityError: the artifact is missing or altered.
        ConfigError: no flavour can load the version.
    """
    from mlops_kit import data, models

    record = models.get_version(kit, f"{name}@{version}")
    training: list[dict[str, str]] = []
    for dataset in record.datasets:
        seen = {column["name"] for column in training}
        schema = data.get_version(kit, dataset).schema
        training += [column for column in schema if column["name"] not in seen]
    loaded = models.load_model(kit, record.ref)
    return ServedModel(
        name=name,
        version=version,
        model=loaded,
        schema=InputSchema.for_model(training or None, loaded.features),
        loaded_at=datetime.now(UTC),
    )


class ModelHolder:
    """Holds the served model; a swap is one reference assignment, atomic for readers."""

    def __init__(self) -> None:
        self._current: ServedModel | None = None
        self._canary: tuple[ServedModel, float] | None = None
        self.failure: LoadFailure | None = None
        """The last version that failed to load, while the alias still points at it."""

    @property
    def current(self) -> ServedModel | None:
        """The model to answer the next request with (``None`` before the first load)."""
        return self._current

    def swap(self, served: ServedModel) -> ServedModel | None:
        """Serve ``served`` from the next request on; returns the model it replaces."""
        previous, self._current = self._current, served
        self.failure = None
        return previous

    @property
    def canary(self) -> tuple[ServedModel, float] | None:
        """The canary version and its share of the requests, while one runs."""
        return self._canary

    def set_canary(self, canary: tuple[ServedModel, float] | None) -> None:
        """Answer that share of the next requests with the canary version (``None``: none)."""
        self._canary = canary

    def pick(self) -> ServedModel | None:
        """The model to answer one request with: the canary for its share of them."""
        canary, current = self._canary, self._current
        # Not a secret: a uniform draw per request splits the traffic by share.
        if canary is not None and current is not None and random.random() < canary[1]:  # noqa: S311
            return canary[0]
        return current
