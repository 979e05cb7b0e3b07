"""A resolved environment with its backends, opened on first use.

Library entry points take a :class:`Kit`; the CLI builds one from its flags, a Python user builds one
with :meth:`Kit.open`. Nothing below this object reads configuration.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

from typing_extensions import override

from mlops_kit.backends import Backend
from mlops_kit.environments import LOCAL, Environment, resolve_environment
from mlops_kit.errors import ConfigError, shorten
from mlops_kit.resources import Resource

if TYPE_CHECKING:
    from mlops_kit.artifacts import ArtifactStore
    from mlops_kit.db import MetadataDatabase
    from mlops_kit.mirrors import RegistryMirror
    from mlops_kit.orchestrators import Orchestrator
    from mlops_kit.warehouse import Warehouse

B = TypeVar("B", bound=Backend)


class Kit(Resource):
    """The backends of one environment.

    The local twin's metadata database is created and migrated on first use; any other database must
    be migrated on purpose (``mlops-kit db upgrade``), because schema changes in a shared database
    deserve a deliberate step.
    """

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.dry_run_command: str | None = None
        """In a dry run, the command it runs (:meth:`start_dry_run`)."""

    @classmethod
    def open(cls, env: str | None = None, **overrides: str | None) -> Kit:
        """Resolve environment ``env`` (see :func:`~mlops_kit.environments.resolve_environment`)."""
        return cls(resolve_environment(env, overrides=overrides))

    @property
    def dry_run(self) -> bool:
        """Whether the kit is in a dry run (``mlops-kit --dry-run``).

        The warehouse then only estimates its first query, and every backend the kit opens
        refuses each change before making it (``Backend.refuse_change``).
        """
        return self.dry_run_command is not None

    @property
    def auto_migrates(self) -> bool:
        """Whether opening the metadata database upgrades its schema."""
        return self.environment.name == LOCAL

    @cached_property
    def metadata(self) -> MetadataDatabase:
        """The metadata database (migrated first when :attr:`auto_migrates`)."""
        from mlops_kit.db import METADATA_DATABASES, migrate

        self.environment.create_local_root()
        database = self._opened(METADATA_DATABASES.open(self.environment.metadata))
        if self.auto_migrates:
            migrate.upgrade(database)
        return database

    @cached_property
    def warehouse(self) -> Warehouse:
        """The warehouse."""
        from mlops_kit.warehouse import WAREHOUSES

        warehouse = WAREHOUSES.open(self.environment.warehouse)
        warehouse.max_bytes_per_query = self.environment.max_bytes_per_query
        warehouse.dry_run = self.dry_run
        return warehouse

    def start_dry_run(self, command: str = "the command") -> None:
        """Estimate the warehouse's first query instead of running it (``mlops-kit --dry-run``).

        Until then nothing may change: a change to the metadata database, the artifact store,
        the orchestrator, the registry mirror or the deploy target ends the dry run before it
        happens (:meth:`~mlops_kit.errors.DryRunEnded.before_change`).

        Args:
            command: what runs, as the message of the end of the dry run names it.

        Raises:
            ConfigError: the warehouse cannot estimate a query (it bills nothing by bytes): the
                command would run for real, so it is refused before it changes anything.
        """
        warehouse = self.warehouse
        if not warehouse.estimates_queries:
            raise ConfigError(
                f"--dry-run estimates what BigQuery queries would process, but the warehouse of "
                f"{self.environment.name!r} is {shorten(self.environment.warehouse)!r}, which "
                "has nothing to estimate: run the command without --dry-run"
            )
        warehouse.dry_run = True
        self.dry_run_command = command
        for role in ("metadata", "artifacts", "orchestrator", "registry_mirror"):
            opened = self.__dict__.get(role)  # a role opened before the dry run started
            if opened is not None:
                self._opened(opened)

    def _opened(self, backend: B) -> B:
        """``backend``, refusing changes while the kit is in a dry run."""
        backend.dry_run_command = self.dry_run_command
        return backend

    @cached_property
    def artifacts(self) -> ArtifactStore:
        """The artifact store."""
        from mlops_kit.artifacts import ARTIFACT_STORES

        return self._opened(ARTIFACT_STORES.open(self.environment.artifacts))

    @cached_property
    def orchestrator(self) -> Orchestrator:
        """The orchestrator."""
        from mlops_kit.orchestrators import ORCHESTRATORS

        return self._opened(ORCHESTRATORS.open(self.environment.orchestrator))

    @cached_property
    def registry_mirror(self) -> RegistryMirror | None:
        """The registry mirror that receives each ready version, or None when there is none."""
        uri = self.environment.registry_mirror
        if uri is None:
            return None
        from mlops_kit.mirrors import REGISTRY_MIRRORS

        return self._opened(REGISTRY_MIRRORS.resolve(uri)(uri))

    @override
    def close(self) -> None:
        """Release pooled connections."""
        if "metadata" in self.__dict__:
            self.metadata.dispose()
