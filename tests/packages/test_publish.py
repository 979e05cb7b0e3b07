"""`mlops-kit env publish-kit`: the kit's wheel, built and uploaded to an environment's repository."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import mlops_kit
from mlops_kit.packages import Wheel, build_wheel, source_checkout
from tests.packages.fake_index import FakeIndex, running_index

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="module")
def kit_wheel(tmp_path_factory: pytest.TempPathFactory) -> Wheel:
    """The kit's wheel, built once from this checkout."""
    return build_wheel(source_checkout(), tmp_path_factory.mktemp("dist"))


@pytest.fixture
def index(project_dir: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIndex]:  # type: ignore[no-untyped-def]
    """A fake repository, environment ``dev`` naming it, and the deployer's credentials for it."""
    with running_index() as server:
        outputs = json.loads((FIXTURES / "stack-outputs-dev.json").read_text(encoding="utf-8"))
        outputs["kit_index"] = server.index
        path = project_dir / "outputs.json"
        path.write_text(json.dumps(outputs), encoding="utf-8")
        assert run_cli("env", "import", "dev", "--from", str(path)).exit_code == 0
        deployer = "mlops-deployer@acme-ml-dev.iam.gserviceaccount.com"
        server.writers.add(deployer)
        key = server.tokens.write_credentials(
            project_dir / "deployer.json", deployer, "acme-ml-dev"
        )
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
        yield server


def test_publish_builds_the_kit_and_uploads_it_with_the_deployers_token(  # type: ignore[no-untyped-def]
    index: FakeIndex, run_cli
) -> None:
    result = run_cli("env", "publish-kit", "dev")
    assert result.exit_code == 0, result.stderr
    version = mlops_kit.__version__
    assert f"published mlops-kit {version} to {index.root}/acme-ml-dev/mlops-dev-kit/" in (
        result.stdout
    )
    [upload] = index.uploads
    assert (upload["name"], upload["version"], upload["filetype"]) == (
        "mlops-kit",
        version,
        "bdist_wheel",
    )
    [(name, content)] = index.files["mlops-kit"].items()
    assert name == f"mlops_kit-{version}-py3-none-any.whl"
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        # `mlops-kit new` works from the published wheel: the templates ship inside it.
        names = archive.namelist()
        assert "mlops_kit/templates/churn/1.1.0/copier.yml" in names
        assert "mlops_kit/templates/churn/releases/1.0.0.diff" in names
        assert "mlops_kit/templates/churn/releases.json" in names


def test_a_dry_run_publishes_nothing(index: FakeIndex, run_cli, kit_wheel: Wheel) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--dry-run", "env", "publish-kit", "dev", "--wheel", str(kit_wheel.path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(
        f"dry run: `env publish-kit` would publish the kit to {index.index}"
    )
    assert index.uploads == []


def test_a_published_version_is_never_replaced(  # type: ignore[no-untyped-def]
    index: FakeIndex, run_cli, kit_wheel: Wheel
) -> None:
    assert run_cli("env", "publish-kit", "dev", "--wheel", str(kit_wheel.path)).exit_code == 0
    again = run_cli("env", "publish-kit", "dev", "--wheel", str(kit_wheel.path))
    assert again.exit_code == 4
    assert f"already holds mlops-kit {kit_wheel.version}: published versions never change" in (
        again.stderr
    )
    assert len(again.stderr.strip().splitlines()) == 1
    assert len(index.uploads) == 1


def test_a_repository_that_refuses_is_named(  # type: ignore[no-untyped-def]
    index: FakeIndex, run_cli, kit_wheel: Wheel
) -> None:
    index.writers.clear()
    result = run_cli("env", "publish-kit", "dev", "--wheel", str(kit_wheel.path))
    assert result.exit_code == 6
    assert "refused the upload (403" in result.stderr
    assert "writer role on the repository" in result.stderr
    assert index.uploads == []


@pytest.mark.parametrize(
    ("wheel", "message"),
    [
        ("missing.whl", "no wheel at"),
        ("other_pkg-1.0-py3-none-any.whl", "is other-pkg, not mlops-kit"),
        ("notes.txt", "is not a wheel file name"),
    ],
)
def test_a_wheel_that_is_not_the_kits_is_refused(  # type: ignore[no-untyped-def]
    index: FakeIndex, run_cli, tmp_path: Path, wheel: str, message: str
) -> None:
    path = tmp_path / wheel
    if wheel.startswith("other"):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(
                "other_pkg-1.0.dist-info/METADATA",
                "Metadata-Version: 2.1\nName: other-pkg\nVersion: 1.0\n",
            )
    elif wheel.endswith(".txt"):
        path.write_text("x", encoding="utf-8")
    result = run_cli("env", "publish-kit", "dev", "--wheel", str(path))
    assert result.exit_code in (2, 3)
    assert message in result.stderr
    assert index.uploads == []


def test_an_environment_without_a_kit_repository_says_how_to_get_one(  # type: ignore[no-untyped-def]
    project_dir: Path, run_cli
) -> None:
    result = run_cli("env", "publish-kit", "local")
    assert result.exit_code == 2
    assert "environment 'local' has no kit_index" in result.stderr
