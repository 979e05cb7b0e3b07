"""Dataset names and references to their versions: ``NAME@V``, ``NAME@latest`` or ``NAME``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlops_kit.errors import ConfigError, shorten
from mlops_kit.limits import MAX_VERSION, version_number

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def check_dataset_name(name: str) -> str:
    """Return ``name`` if it is a valid dataset name (lower-case letters, digits, ``_``; ≤ 63).

    Raises:
        ConfigError: the name is invalid.
    """
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid dataset name {shorten(name)!r}: use lower-case letters, digits and '_', "
            "starting with a letter (at most 63 characters)"
        )
    return name


@dataclass(frozen=True)
class DatasetRef:
    """A reference to a dataset version: ``NAME@V``, ``NAME@latest`` or ``NAME`` (= latest).

    Attributes:
        name: the dataset name.
        version: the version number, or ``None`` for the latest version.
    """

    name: str
    version: int | None = None

    @classmethod
    def parse(cls, text: str) -> DatasetRef:
        """Parse ``NAME[@V|@latest]``.

        Raises:
            ConfigError: the text is not a valid reference.
        """
        name, at, version = text.strip().partition("@")
        check_dataset_name(name)
        if not at or version == "latest":
            return cls(name)
        number = version_number(version)
        if number is None:
            raise ConfigError(
                f"invalid dataset reference {shorten(text)!r}: use NAME@VERSION "
                f"(a number from 1 to {MAX_VERSION}) or NAME@latest"
            )
        return cls(name, number)

    def __str__(self) -> str:
        return f"{self.name}@{'latest' if self.version is None else self.version}"


def as_ref(ref: DatasetRef | str) -> DatasetRef:
    """``ref`` itself, or parsed (see :meth:`DatasetRef.parse`)."""
    return ref if isinstance(ref, DatasetRef) else DatasetRef.parse(ref)
