"""`mlops-kit new` and `update`: rendering wired to an environment, bad input, template updates."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mlops_kit.environments import Workspace, resolve_environment
from mlops_kit.scaffold import build_repository, new_project, templates_root, update_project
from mlops_kit.scaffold.versions import version_trees

FIXTURES = Path(__file__).parents[1] / "fixtures"


def _local_environment(directory: Path):  # type: ignore[no-untyped-def]
    workspace = Workspace.discover(directory, environ={})
    return resolve_environment("local", workspace=workspace, environ={})


def test_new_renders_a_project_wired_to_the_local_twin(tmp_path: Path) -> None:
    created = new_project(tmp_path / "churn-model", _local_environment(tmp_path))
    project = created.path
    assert (created.template, created.version) == ("churn", "1.1.0")
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["_commit"] == "v1.1.0"
    assert answers["_src_path"] == ".mlops/templates/churn"
    assert answers["project_name"] == "churn-model"
    assert answers["orchestrator"] == "kfp-local"
    assert (
        yaml.safe_load((project / "mlops-kit.yaml").read_text(encoding="utf-8"))["env"] == "local"
    )
    assert (project / "src/churn_model/pipeline.py").is_file()
    assert (project / "src/churn_model/components/train.py").is_file()
    assert not (project / "environments").exists()
    assert "COPY environments" not in (project / "Dockerfile").read_text(encoding="utf-8")
    workflow = (project / ".github/workflows/ci.yml").read_text(encoding="utf-8")
    assert "pipeline compile --env local" in workflow and "submit:" not in workflow
    log = subprocess.run(["git", "log", "--format=%s"], cwd=project, capture_output=True, text=True)
    assert log.stdout.strip() == "New project from mlops-kit template churn 1.1.0"
    tracked = subprocess.run(["git", "ls-files"], cwd=project, capture_output=True, text=True)
    assert ".copier-answers.yml" in tracked.stdout.split()
    assert ".mlops/templates/churn/copier.yml" not in tracked.stdout


def test_a_dry_run_of_commands_that_write_files_changes_nothing(project_dir: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    outputs = FIXTURES / "stack-outputs-dev.json"
    before = sorted(project_dir.rglob("*"))
    expected = {
        ("env", "import", "dev", "--from", str(outputs)): (
            f"`env import` would write environment 'dev' from {outputs}"
        ),
        ("new", "fraud-score", "--env", "dev"): "`new` would create the project fraud-score",
        ("update", "."): "`update` would merge the newest template version into .",
        ("quickstart", "demo"): "`quickstart` would create the demo project demo and run",
    }
    for command, says in expected.items():
        result = run_cli("--dry-run", *command)
        assert result.exit_code == 0, result.stderr
        (line,) = result.stdout.strip().splitlines()
        assert line.startswith(f"dry run: {says}"), line
        assert line.endswith(
            "nothing was changed and nothing is estimated: run it without --dry-run"
        )
        assert sorted(project_dir.rglob("*")) == before, command


def test_new_in_a_cloud_environment_uses_its_resolved_resources(project_dir: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    imported = run_cli("env", "import", "dev", "--from", str(FIXTURES / "stack-outputs-dev.json"))
    assert imported.exit_code == 0, imported.stderr
    result = run_cli("new", "fraud-score", "--env", "dev", "--data", "target=is_fraud")
    assert result.exit_code == 0, result.stderr
    project = project_dir / "fraud-score"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["gcp_project"] == "acme-ml-dev"
    assert answers["orchestrator"] == "kfp+https://kfp.dev.internal.acme.example"
    assert answers["target"] == "is_fraud"
    config = yaml.safe_load((project / "configs/dev.yaml").read_text(encoding="utf-8"))
    assert config["image"] == "europe-west1-docker.pkg.dev/acme-ml-dev/mlops-dev-images/fraud-score"
    assert config["target"] == "is_fraud"
    copied = yaml.safe_load((project / "environments/dev.yaml").read_text(encoding="utf-8"))
    assert copied["bucket"] == "acme-ml-dev-mlops-models"
    assert copied["metadata"].startswith("cloudsql://acme-ml-dev:europe-west1:mlops-dev-metadata/")
    workflow = (project / ".github/workflows/ci.yml").read_text(encoding="utf-8")
    assert "mlops-kit pipeline run --env dev" in workflow
    assert "service_account: mlops-deployer@acme-ml-dev.iam.gserviceaccount.com" in workflow
    assert "${{ vars.WORKLOAD_IDENTITY_PROVIDER }}" in workflow
    assert "--image-digest" in workflow
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
    assert "uv pip install --system --no-cache '.[cloud]'" in dockerfile
    # The image serves the production alias, wired to the environment it was rendered for.
    assert "COPY environments ./environments\n" in dockerfile
    assert dockerfile.rstrip().endswith(
        'CMD ["mlops-kit", "serve", "fraud-score@production", "--host", "0.0.0.0"]'
    )


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["new", "Bad_Name"], 2, "invalid project name 'Bad_Name'"),
        (["new", "ok-name", "--data", "environment=prod"], 2, "come from the environment"),
        (["new", "ok-name", "--data", "novalue"], 2, "malformed --data 'novalue'"),
        (["new", "ok-name", "--data", "targt=x"], 2, "unknown --data targt: the template asks"),
        (["new", "ok-name", "--data", "dataset=Churn Data"], 2, "rejected the answers"),
        (["--env", "nope", "new", "ok-name"], 3, "unknown environment 'nope'"),
        (["new", "ok-name", "--env", "nope"], 3, "unknown environment 'nope'"),
        (["new", "ok-name", "--template", "nope"], 3, "unknown template 'nope': use one of churn"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(  # type: ignore[no-untyped-def]
    project_dir: Path, run_cli, args: list[str], exit_code: int, message: str
) -> None:
    before = sorted(p.name for p in project_dir.iterdir())
    result = run_cli(*args)
    assert result.exit_code == exit_code, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in project_dir.iterdir()) == before


def test_non_empty_target_is_refused_and_left_alone(project_dir: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    target = project_dir / "taken"
    target.mkdir()
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    result = run_cli("new", "taken")
    assert result.exit_code == 4
    assert "already exists and is not empty" in result.stderr
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


@pytest.fixture
def two_versions(tmp_path: Path) -> Path:
    """A template root with the shipped 1.0.0 and a later 1.1.0 that changes it, both unreleased."""
    root = tmp_path / "templates"
    shipped = dict(version_trees("churn", templates_root(), tmp_path / "shipped"))
    shutil.copytree(shipped["1.0.0"], root / "churn" / "1.0.0")
    newer = root / "churn" / "1.1.0"
    shutil.copytree(root / "churn" / "1.0.0", newer)
    readme = newer / "project" / "README.md.jinja"
    readme.write_text(
        readme.read_text(encoding="utf-8") + "- Retraining: monitoring submits this pipeline.\n",
        encoding="utf-8",
    )
    (newer / "project" / "CONTRIBUTING.md").write_text("Open a pull request.\n", encoding="utf-8")
    return root


def test_template_repository_has_a_tag_per_version(two_versions: Path, tmp_path: Path) -> None:
    repository = build_repository("churn", two_versions, tmp_path / "repo")
    tags = subprocess.run(["git", "tag"], cwd=repository, capture_output=True, text=True)
    assert tags.stdout.split() == ["v1.0.0", "v1.1.0"]


def test_update_merges_a_newer_template_and_keeps_local_edits(
    two_versions: Path, tmp_path: Path
) -> None:
    project = new_project(
        tmp_path / "churn-model", _local_environment(tmp_path), root=two_versions, version="1.0.0"
    ).path
    readme = project / "README.md"
    readme.write_text(
        readme.read_text(encoding="utf-8").replace("## Run", "## Run it"), encoding="utf-8"
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    with pytest.raises(Exception, match="uncommitted changes"):
        update_project(project, root=two_versions)
    subprocess.run([*git, "commit", "-qam", "our edit"], cwd=project, check=True)

    assert update_project(project, root=two_versions) == ("1.0.0", "1.1.0")

    text = readme.read_text(encoding="utf-8")
    assert "## Run it" in text
    assert "- Retraining: monitoring submits this pipeline." in text
    assert (project / "CONTRIBUTING.md").read_text(encoding="utf-8") == "Open a pull request.\n"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["_commit"] == "v1.1.0"
    assert answers["_src_path"] == ".mlops/templates/churn"
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True
    )
    assert status.stdout.strip(), "the update is left for review, not committed"
    subprocess.run([*git, "commit", "-qam", "template 1.1.0"], cwd=project, check=True)
    assert update_project(project, root=two_versions) == ("1.1.0", "1.1.0")


def test_update_from_1_0_0_turns_on_the_gates_weak_slice_search(tmp_path: Path) -> None:
    from mlops_kit.pipelines.project import PipelineProject

    project = new_project(
        tmp_path / "churn-model", _local_environment(tmp_path), version="1.0.0"
    ).path
    pipeline = PipelineProject.discover(project)
    assert pipeline.config("local").gate.weak_slice_min_count is None
    environment = _local_environment(tmp_path)
    assert "weak_slice_min_count" not in pipeline.arguments(environment, pipeline.config("local"))

    assert update_project(project) == ("1.0.0", "1.1.0")

    assert pipeline.config("local").gate.weak_slice_min_count == 50
    assert pipeline.arguments(environment, pipeline.config("local"))["weak_slice_min_count"] == 50
    code = (project / "src/churn_model/pipeline.py").read_text(encoding="utf-8")
    assert "weak_slice_min_count: int = 0," in code
    assert "weak_slice_min_count=weak_slice_min_count," in code
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["_commit"] == "v1.1.0"


def test_update_of_something_else_is_refused(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("update", str(tmp_path))
    assert result.exit_code == 3
    assert "only projects made by `mlops-kit new` can be updated" in result.stderr


def test_update_cli_on_the_newest_version_changes_nothing(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    project = new_project(tmp_path / "churn-model", _local_environment(tmp_path)).path
    result = run_cli("update", str(project))
    assert result.exit_code == 0, result.stderr
    assert "already on the newest template version 1.1.0" in result.stdout
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True
    )
    assert status.stdout == ""


def test_the_first_commit_is_the_users_when_git_knows_them(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Ann\n\temail = ann@example.com\n", encoding="utf-8")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    project = new_project(tmp_path / "churn-model", _local_environment(tmp_path)).path
    log = subprocess.run(
        ["git", "log", "--format=%an <%ae>"], cwd=project, capture_output=True, text=True
    )
    assert log.stdout.strip() == "Ann <ann@example.com>"
