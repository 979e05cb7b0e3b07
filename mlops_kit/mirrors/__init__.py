"""Registry mirrors: copies of ready model versions in a cloud model registry.

The kit's registry stays the source of truth. An environment may name a mirror
(``registry_mirror: vertex://PROJECT/LOCATION``) so that each ready version is also uploaded where the
cloud can deploy it; ``vertex://`` is the Vertex AI Model Registry. Backends are imported only
when the environment's mirror is opened.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, final

from mlops_kit.backends import Backend, SchemeRegistry
from mlops_kit.errors import shorten


@dataclass(frozen=True)
class MirroredVersion:
    """What a mirror is told about the version it copies."""

    name: str
    version: int
    artifact_uri: str
    """Where the artifact's files are (``NAME/VERSION/`` in the artifact store)."""
    flavor: str | None
    datasets: Sequence[str] = ()
    """The dataset versions it was trained on, as ``DATASET@VERSION``."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """The environment's labels (``env``, ``team``, ``cost-center``)."""
    packages: Mapping[str, str] = field(default_factory=dict)
    """The training environment's package versions (the serving image must match them)."""
    previous: str | None = None
    """The resource an earlier version of the same model was mirrored to (the value of the
    mirror's :attr:`RegistryMirror.tag`), so the copy joins that model; None for the first."""
    serving_image: str | None = None
    """The prediction container (default: the mirror's for the flavour)."""

    @property
    def ref(self) -> str:
        """``NAME@VERSION``."""
        return f"{self.name}@{self.version}"


class RegistryMirror(Backend):
    """A cloud model registry that receives a copy of each ready version."""

    tag: ClassVar[str]
    """The version tag under which the kit records the mirrored resource."""

    @final
    def mirror(self, version: MirroredVersion) -> str:
        """Upload ``version`` to the mirror.

        Args:
            version: the ready version to copy, with the copy it joins and its container.

        Returns:
            The mirror's resource name of the copy, recorded under :attr:`tag`.

        Raises:
            ConfigError: the version cannot be mirrored here (its artifact location or flavour).
            MissingDependencyError: the mirror's SDK is not installed.
            BackendError: the mirror refused the upload or is unreachable.
            DryRunEnded: the kit is in a dry run; nothing is uploaded.
        """
        self.refuse_change(f"copy {version.ref} to the registry mirror {shorten(self.uri)}")
        return self._mirror(version)

    @abstractmethod
    def _mirror(self, version: MirroredVersion) -> str:
        """Upload ``version`` as :meth:`mirror` says, the mirror being free to change."""


REGISTRY_MIRRORS: SchemeRegistry[RegistryMirror] = SchemeRegistry("registry mirror", RegistryMirror)
REGISTRY_MIRRORS.register(["vertex"], "mlops_kit.mirrors.vertex:VertexModelRegistry")
