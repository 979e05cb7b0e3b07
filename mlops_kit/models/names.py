"""Model names, aliases and references (``NAME@VERSION``, ``NAME@ALIAS``, ``NAME``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlops_kit.errors import ConfigError, shorten
from mlops_kit.limits import MAX_VERSION, version_number

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,99}$")
LATEST = "latest"


def check_model_name(name: str) -> str:
    """Return ``name`` if it can name a model (it becomes part of artifact keys).

    Raises:
        ConfigError: the name is empty, too long, or has characters other than letters, digits,
            ``_``, ``.`` and ``-``.
    """
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid model name {shorten(name)!r}: use letters, digits, '_', '.', '-' (max 100 characters)"
        )
    return name


def check_alias(alias: str) -> str:
    """Return ``alias`` if it is a lower-case word that is neither all digits nor ``latest``.

    Raises:
        ConfigError: otherwise.
    """
    if not _ALIAS.match(alias) or alias == LATEST:
        raise ConfigError(
            f"invalid alias {shorten(alias)!r}: use a lower-case word such as 'champion' or 'production' "
            "(not all digits, not 'latest')"
        )
    return alias


@dataclass(frozen=True)
class ModelRef:
    """A reference to a model version: ``NAME@VERSION``, ``NAME@ALIAS``, ``NAME@latest`` or ``NAME``."""

    name: str
    version: int | None = None
    alias: str | None = None
    """An alias name, or ``latest`` (the newest ready version; also what a bare name means)."""

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse ``NAME@VERSION``, ``NAME@ALIAS`` or a bare ``NAME`` (the latest ready version).

        Raises:
            ConfigError: the name or the part after ``@`` is invalid.
        """
        name, separator, selector = text.strip().partition("@")
        check_model_name(name)
        if not separator:
            return cls(name, alias=LATEST)
        number = version_number(selector)
        if number is not None:
            return cls(name, version=number)
        if selector == LATEST:
            return cls(name, alias=LATEST)
        if not _ALIAS.match(selector):
            raise ConfigError(
                f"invalid model reference {shorten(text)!r}: use NAME@VERSION "
                f"(a number from 1 to {MAX_VERSION}), "
                "NAME@ALIAS or NAME@latest"
            )
        return cls(name, alias=selector)

    def __str__(self) -> str:
        return f"{self.name}@{self.version if self.version is not None else self.alias}"


def as_ref(ref: ModelRef | str) -> ModelRef:
    """``ref`` parsed if it is text."""
    return ref if isinstance(ref, ModelRef) else ModelRef.parse(ref)
