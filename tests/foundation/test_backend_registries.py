"""Backend registries: third-party backends declared by installed packages, and what backends say.

The third-party backend is a real installed distribution: a ``.dist-info`` with an
``entry_points.txt`` and its module, in a directory put on ``sys.path``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_kit.artifacts import ARTIFACT_STORES
from mlops_kit.deploy_targets import DEPLOY_TARGETS, open_deploy_target
from mlops_kit.errors import BackendError, UnknownSchemeError
from mlops_kit.kit import Kit
from mlops_kit.registries import REGISTRIES

PLUGIN = '''
from mlops_kit.artifacts.local import LocalArtifactStore


class AcmeStore(LocalArtifactStore):
    """A store of another company, here a local directory under another scheme."""
'''


def _install(site: Path, entry_points: str, module: str = PLUGIN) -> None:
    """Write the distribution ``acme-store`` with ``entry_points`` into ``site``."""
    (site / "acme_store.py").write_text(module)
    dist = site / "acme_store-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-store\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("acme_store", None)  # each test installs its own version of the module


def test_an_installed_package_adds_a_scheme_to_its_role(site: Path, tmp_path: Path) -> None:
    _install(site, "[mlops_kit.artifacts]\nacme = acme_store:AcmeStore\n")

    store = ARTIFACT_STORES.open(f"acme://{tmp_path / 'objects'}")

    assert type(store).__name__ == "AcmeStore" and store.runs_here
    assert "acme" in ARTIFACT_STORES.schemes
    # Only its own role's group counts.
    assert "acme" not in REGISTRIES["warehouse"].schemes
    with pytest.raises(UnknownSchemeError, match=r"use one of acme://, file://, gs://"):
        ARTIFACT_STORES.open("s3://bucket/models")


def test_without_the_package_the_scheme_is_unknown() -> None:
    with pytest.raises(UnknownSchemeError, match=r"unknown artifacts scheme 'acme'"):
        ARTIFACT_STORES.open("acme:///tmp/x")


def test_an_installed_package_adds_a_deploy_target(site: Path, local_kit: Kit) -> None:
    module = (
        "from mlops_kit.deploy_targets.local import AliasTarget\n\n\n"
        "class AcmeTarget(AliasTarget):\n    pass\n"
    )
    _install(site, "[mlops_kit.deploy]\nacme = acme_store:AcmeTarget\n", module)
    environment = local_kit.environment.model_copy(update={"deploy": "acme://cluster/serving"})

    target = open_deploy_target(Kit(environment))

    assert type(target).__name__ == "AcmeTarget"
    assert "acme" in DEPLOY_TARGETS.schemes


def test_the_kit_s_own_backends_win_over_installed_ones(site: Path) -> None:
    _install(site, "[mlops_kit.artifacts]\nfile = acme_store:AcmeStore\n")

    assert ARTIFACT_STORES.resolve("file:///tmp/x").__name__ == "LocalArtifactStore"


@pytest.mark.parametrize(
    ("entry_points", "module", "message"),
    [
        (
            "[mlops_kit.artifacts]\nacme = acme_store_missing:AcmeStore\n",
            PLUGIN,
            r"cannot load the artifacts backend of 'acme' .*No module named 'acme_store_missing'",
        ),
        (
            "[mlops_kit.artifacts]\nacme = acme_store:AcmeStore\n",
            "class AcmeStore:\n    pass\n",
            r"backend of 'acme' \(acme_store:AcmeStore\) is not a ArtifactStore",
        ),
    ],
)
def test_a_broken_installed_backend_is_a_one_line_error(
    site: Path, entry_points: str, module: str, message: str
) -> None:
    _install(site, entry_points, module)

    with pytest.raises(BackendError, match=message) as raised:
        ARTIFACT_STORES.open("acme:///tmp/x")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("role", "uri", "runs_here"),
    [
        ("warehouse", "duckdb:///tmp/w.duckdb", True),
        ("warehouse", "bigquery://p/d", False),
        ("artifacts", "file:///tmp/a", True),
        ("artifacts", "gs://b/p", False),
        ("metadata", "sqlite:////tmp/m.db", True),
        ("metadata", "cloudsql://p:r:i/db?iam_user=u", False),
        ("orchestrator", "kfp-local", True),
        ("orchestrator", "kfp+https://kfp.example", False),
        ("orchestrator", "vertex://p/europe-west4", False),
    ],
)
def test_backends_say_whether_they_run_here(role: str, uri: str, runs_here: bool) -> None:
    assert REGISTRIES[role].resolve(uri).runs_here is runs_here
