"""The architecture the import-linter contracts cannot state: complete backend lists, no cycles."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import grimp
import pytest

from tests.contracts.conftest import ROLES

ROOT = Path(__file__).parents[1]


def _contract(name: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["name"] == name]
    return contract


def test_every_registered_backend_is_reached_only_through_its_role() -> None:
    contract = _contract(
        "Backends are reached through their role interface, never imported directly"
    )
    registered = {
        target.partition(":")[0]
        for registry in ROLES.values()
        for target in registry.registered.values()
    }
    assert sorted(contract["forbidden_modules"]) == sorted(registered)  # type: ignore[arg-type]


def _import_cycles(package: str) -> list[str]:
    """The imports of ``package`` that lie on a cycle, as ``importer -> imported``.

    A package importing its own modules (to re-export them) is not counted: only cycles between
    modules of different concerns are.
    """
    graph = grimp.build_graph(package)
    own = [
        (importer, imported)
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if imported in graph.modules
    ]
    for importer, imported in own:
        if imported.startswith(importer + "."):
            graph.remove_import(importer=importer, imported=imported)
    return sorted(
        f"{importer} -> {imported}"
        for importer, imported in own
        if not imported.startswith(importer + ".")
        and graph.chain_exists(importer=imported, imported=importer)
    )


def test_the_kit_has_no_import_cycle() -> None:
    assert _import_cycles("mlops_kit") == []


def test_every_public_name_of_a_package_loaded_on_use_resolves() -> None:
    for name in ("mlops_kit.data", "mlops_kit.monitoring"):
        package = importlib.import_module(name)
        for attribute in package.__all__:
            assert getattr(package, attribute) is not None, (name, attribute)
        with pytest.raises(AttributeError, match=f"module '{name}' has no attribute 'missing'"):
            _ = package.missing
