"""A generated project's path to its environment: a hardened CI workflow, the kit from the
environment's own package repository, images by digest."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_kit import __version__
from mlops_kit.environments import Workspace, read_stack_outputs, resolve_environment
from mlops_kit.scaffold import new_project
from tests.packages.fake_index import running_index

FIXTURES = Path(__file__).parents[1] / "fixtures"
ZIZMOR = Path(sys.executable).parent / "zizmor"
UV = Path(sys.executable).parent / "uv"


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The template rendered once for the local twin and once for cloud environment ``dev``."""
    root = tmp_path_factory.mktemp("projects")
    workspace = Workspace.discover(root, environ={})
    local = resolve_environment("local", workspace=workspace, environ={})
    dev = read_stack_outputs(FIXTURES / "stack-outputs-dev.json").to_environment("dev")
    return {
        "local": new_project(root / "churn-local", local).path,
        "dev": new_project(root / "churn-dev", dev).path,
    }


def _zizmor(project: Path) -> list[dict[str, object]]:
    result = subprocess.run(
        [str(ZIZMOR), "--offline", "--format", "json", "--no-exit-codes", str(project)],
        capture_output=True,
        text=True,
        check=True,
    )
    findings: list[dict[str, object]] = json.loads(result.stdout)
    return findings


@pytest.mark.parametrize("environment", ["local", "dev"])
def test_zizmor_finds_nothing_above_low_in_the_workflow(
    projects: dict[str, Path], environment: str
) -> None:
    findings = _zizmor(projects[environment])
    serious = [
        (f["ident"], f["determinations"]["severity"])  # type: ignore[index]
        for f in findings
        if f["determinations"]["severity"] not in ("Informational", "Low")  # type: ignore[index]
    ]
    assert serious == []


def _workflow(project: Path) -> dict[str, object]:
    text = (project / ".github/workflows/ci.yml").read_text(encoding="utf-8")
    loaded: dict[str, object] = yaml.safe_load(text)
    return loaded


def test_every_action_is_pinned_to_a_commit_with_its_release_beside_it(
    projects: dict[str, Path],
) -> None:
    text = (projects["dev"] / ".github/workflows/ci.yml").read_text(encoding="utf-8")
    uses = [line.split("uses:", 1)[1].strip() for line in text.splitlines() if "uses:" in line]
    assert uses
    for use in uses:
        reference, _, comment = use.partition("#")
        ref = reference.strip().partition("@")[2]
        assert len(ref) == 40 and int(ref, 16) >= 0, use
        assert comment.strip().startswith("v"), use


def test_only_the_submitting_job_may_mint_credentials_and_it_is_bound_to_the_environment(
    projects: dict[str, Path],
) -> None:
    workflow = _workflow(projects["dev"])
    assert workflow["permissions"] == {}
    jobs: dict[str, dict[str, object]] = workflow["jobs"]  # type: ignore[assignment]
    minting = [name for name, job in jobs.items() if "id-token" in job["permissions"]]  # type: ignore[operator]
    assert minting == ["submit"]
    assert jobs["submit"]["environment"] == "dev"
    assert jobs["check"]["permissions"] == {"contents": "read"}
    for job in jobs.values():
        for step in job["steps"]:  # type: ignore[attr-defined]
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
    local = _workflow(projects["local"])
    assert list(local["jobs"]) == ["check"]  # type: ignore[call-overload]


def _wheel(directory: Path, marker: str) -> Path:
    """A wheel of ``mlops-kit 0.1.0`` that says where it came from."""
    path = directory / marker / "mlops_kit-0.1.0-py3-none-any.whl"
    path.parent.mkdir()
    info = "mlops_kit-0.1.0.dist-info"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mlops_kit/__init__.py", f"ORIGIN = {marker!r}\n")
        archive.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: mlops-kit\nVersion: 0.1.0\n"
        )
        archive.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{info}/RECORD", "")
    return path


def _resolve(project: Path, public: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Resolve the project's own requirement on mlops-kit as uv does, ``public`` as default index."""
    return subprocess.run(
        [
            str(UV),
            "pip",
            "compile",
            "pyproject.toml",
            "--no-deps",
            "--no-config",
            "--emit-index-annotation",
            "--default-index",
            public,
            "--python-version",
            "3.11",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        env={"UV_CACHE_DIR": str(tmp_path / "uv-cache"), "PATH": "/usr/bin:/bin"},
    )


def test_a_cloud_project_resolves_the_kit_from_its_environment_alone(
    tmp_path: Path,
) -> None:
    with running_index() as environment_index, running_index("pypi/public") as public:
        # Someone registers the kit's name on the public index, at the same and a higher version.
        public.add("mlops-kit", _wheel(tmp_path, "stranger"))
        outputs = read_stack_outputs(FIXTURES / "stack-outputs-dev.json")
        dev = outputs.model_copy(update={"kit_index": environment_index.index})
        project = new_project(tmp_path / "churn-dev", dev.to_environment("dev")).path
        pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
        assert pyproject["project"]["dependencies"] == [f"mlops-kit[local]=={__version__}"]
        assert pyproject["project"]["optional-dependencies"]["cloud"] == [
            f"mlops-kit[gcp,vertex]=={__version__}"
        ]

        missing = _resolve(project, public.index, tmp_path)
        assert missing.returncode != 0, "the kit must not come from the public index"
        assert "mlops-kit" in missing.stderr

        environment_index.add("mlops-kit", _wheel(tmp_path, "environment"))
        resolved = _resolve(project, public.index, tmp_path)
        assert resolved.returncode == 0, resolved.stderr
        assert (
            f"mlops-kit==0.1.0\n    # via churn-dev (pyproject.toml)\n    # from {environment_index.index}\n"
            in resolved.stdout
        )
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
    assert "uv pip install --system --no-cache '.[cloud]'" in dockerfile
    assert "pip install --no-cache-dir '.[cloud]'" not in dockerfile


def test_ci_runs_and_attests_the_image_it_built_by_digest(projects: dict[str, Path]) -> None:
    jobs: dict[str, Any] = _workflow(projects["dev"])["jobs"]  # type: ignore[assignment]
    steps = {
        step.get("id") or step.get("name") or step.get("run", ""): step
        for step in jobs["submit"]["steps"]
    }
    assert steps["build"]["with"]["push"] is True
    assert steps["attest"]["env"]["IMAGE"] == (
        "${{ steps.image.outputs.name }}@${{ steps.build.outputs.digest }}"
    )
    attest = steps["attest"]["run"]
    assert "--attestor=projects/acme-ml-dev/attestors/mlops-dev-built-by-ci" in attest
    assert "--keyversion=projects/acme-ml-dev/locations/europe-west1/keyRings/" in attest
    [run] = [s for s in jobs["submit"]["steps"] if "pipeline run" in s.get("run", "")]
    assert run["env"] == {"DIGEST": "${{ steps.build.outputs.digest }}"}
    assert run["run"] == 'mlops-kit pipeline run --env dev --image-digest "$DIGEST"'
    config = yaml.safe_load((projects["dev"] / "configs/dev.yaml").read_text(encoding="utf-8"))
    assert config["image"] == "europe-west1-docker.pkg.dev/acme-ml-dev/mlops-dev-images/churn-dev"


def test_after_the_build_the_image_is_named_by_its_digest_only(projects: dict[str, Path]) -> None:
    steps: list[dict[str, Any]] = _workflow(projects["dev"])["jobs"]["submit"]["steps"]  # type: ignore[index]
    built = next(i for i, step in enumerate(steps) if step.get("id") == "build")
    after = steps[built + 1 :]
    digest = "${{ steps.build.outputs.digest }}"
    # The attestation and the run (whose deploy task serves from the same image) name the digest.
    assert [step.get("name") or step["run"] for step in after] == [
        "attest",
        'mlops-kit pipeline run --env dev --image-digest "$DIGEST"',
    ]
    for step in after:
        text = yaml.safe_dump(step)
        assert digest in text, step
        assert "github.sha" not in text and ":latest" not in text, step
    attest = after[0]
    outputs = json.loads((FIXTURES / "stack-outputs-dev.json").read_text(encoding="utf-8"))
    assert attest["run"].split() == [
        "gcloud",
        "beta",
        "container",
        "binauthz",
        "attestations",
        "sign-and-create",
        '--artifact-url="$IMAGE"',
        f"--attestor={outputs['attestor']}",
        f"--keyversion={outputs['attestor_key']}",
    ]
    # Built images are only pushed under the commit's tag (immutable in the repository).
    assert steps[built]["with"]["tags"] == "${{ steps.image.outputs.name }}:${{ github.sha }}"


def test_a_local_project_attests_nothing(projects: dict[str, Path]) -> None:
    text = (projects["local"] / ".github/workflows/ci.yml").read_text(encoding="utf-8")
    assert "binauthz" not in text and "id-token" not in text


DIGEST = "sha256:" + "0123456789abcdef" * 4


def test_the_compiled_pipeline_names_the_image_by_digest(  # type: ignore[no-untyped-def]
    projects: dict[str, Path], run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(projects["dev"])
    output = projects["dev"] / "build" / "digest.yaml"
    result = run_cli(
        "pipeline", "compile", "--env", "dev", "-o", str(output), "--image-digest", DIGEST
    )
    assert result.exit_code == 0, result.stderr
    spec = yaml.safe_load(output.read_text(encoding="utf-8"))
    images = {
        executor["container"]["image"] for executor in spec["deploymentSpec"]["executors"].values()
    }
    image = f"europe-west1-docker.pkg.dev/acme-ml-dev/mlops-dev-images/churn-dev@{DIGEST}"
    assert images == {image}
    # The same image serves: the deploy step hands it to the GKE or Vertex AI deploy target.
    tasks = {
        task["taskInfo"]["name"]: task
        for component in [spec["root"], *spec["components"].values()]
        for task in component.get("dag", {}).get("tasks", {}).values()
    }
    assert tasks["deploy-model"]["inputs"]["parameters"]["image"] == {
        "runtimeValue": {"constant": image}
    }
    # The version records it: a retraining run of the champion trains in the same image.
    assert tasks["register-model"]["inputs"]["parameters"]["image"] == {
        "runtimeValue": {"constant": image}
    }


def _image_references(project: Path) -> list[tuple[str, str]]:
    """(where, reference) of every image of the project in its configs and its CI workflow."""
    found = [
        (path.name, str(config["image"]))
        for path in sorted((project / "configs").glob("*.yaml"))
        if (config := yaml.safe_load(path.read_text(encoding="utf-8"))).get("image")
    ]
    for job, spec in _workflow(project)["jobs"].items():  # type: ignore[attr-defined]
        for step in spec["steps"]:
            for value in [*step.get("with", {}).values(), *step.get("env", {}).values()]:
                if "steps.image.outputs.name" in str(value):
                    found.append((f"{job}/{step.get('id') or step.get('name')}", str(value)))
    return found


def test_every_image_of_a_cloud_project_is_by_digest_or_filled_by_ci(
    projects: dict[str, Path],
) -> None:
    references = _image_references(projects["dev"])
    where = {place for place, _ in references}
    assert {"dev.yaml", "submit/build", "submit/attest"} <= where
    for place, reference in references:
        name = reference.rpartition("/")[2]
        if place.endswith(".yaml"):
            # The repository alone: a cluster run adds the digest (--image-digest, or the
            # champion's recorded image) and refuses to run without one.
            assert "@" not in name and ":" not in name, (place, reference)
        elif place == "submit/build":
            # The push names the commit (a new tag per build); nothing runs by this tag.
            assert reference == "${{ steps.image.outputs.name }}:${{ github.sha }}"
        else:
            assert reference.endswith("@${{ steps.build.outputs.digest }}"), (place, reference)
    local = _image_references(projects["local"])
    assert all(place.endswith(".yaml") and "@" not in ref for place, ref in local)


@pytest.mark.parametrize(
    "digest", ["latest", "sha256:" + "0" * 63, "sha256:" + "A" * 64, "sha512:" + "0" * 64]
)
def test_a_malformed_digest_is_one_line_and_writes_nothing(  # type: ignore[no-untyped-def]
    projects: dict[str, Path], run_cli, monkeypatch: pytest.MonkeyPatch, digest: str
) -> None:
    monkeypatch.chdir(projects["local"])
    output = projects["local"] / "build" / "bad.yaml"
    result = run_cli(
        "pipeline", "compile", "--env", "local", "-o", str(output), "--image-digest", digest
    )
    assert result.exit_code == 2
    assert (
        f"invalid image digest {digest!r}: write sha256: and 64 lower-case hex digits"
        in result.stderr
    )
    assert len(result.stderr.strip().splitlines()) == 1
    assert not output.exists()
