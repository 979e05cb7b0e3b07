"""Package attributes whose modules load on first use, so that importing a package stays light."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def attributes_loaded_on_use(package: str, modules: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package`` that imports each attribute on first use.

    Args:
        package: the package's ``__name__``.
        modules: for each attribute, the submodule that defines it (``"diff": "diffs"``).

    Returns:
        The function to assign to the package's ``__getattr__``; a loaded attribute is kept on
        the package, so it is looked up once.
    """

    def load(name: str) -> Any:
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{modules[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return load
