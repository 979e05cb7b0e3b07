"""Projects from templates, wired to an environment, and their updates as reviewable merges.

The kit ships each template as the full tree of its newest version, ``templates/NAME/VERSION/``
(a copier template), and every earlier version as the diff to its successor
(``templates/NAME/releases/``, see :mod:`mlops_kit.scaffold.versions`). Copier updates need the
template as a git repository with a tag per version, so the kit builds that repository from the
shipped versions whenever it needs one, inside the project at ``.mlops/templates/NAME`` (ignored
by git), and the project's ``.copier-answers.yml`` points there. ``mlops-kit update`` rebuilds it
from the installed kit, so a newer kit brings its newer template versions.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from mlops_kit import __version__
from mlops_kit.environments import Environment
from mlops_kit.errors import ConfigError, ConflictError, MissingDependencyError, NotFoundError
from mlops_kit.scaffold.versions import run_git, template_versions, version_trees

DEFAULT_TEMPLATE: Final = "churn"
ANSWERS_FILE: Final = ".copier-answers.yml"
REPOSITORY_DIR: Final = ".mlops/templates"
_PROJECT_NAME: Final = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
# Answered from the environment by the kit, never by the user.
_ENVIRONMENT_ANSWERS: Final = frozenset(
    {
        "environment",
        "gcp_project",
        "region",
        "orchestrator",
        "pipeline_root",
        "service_account",
        "deployer",
        "kit_index",
        "image_repository",
        "attestor",
        "attestor_key",
    }
)
_GIT_IDENTITY: Final = ("-c", "user.name=mlops-kit", "-c", "user.email=mlops-kit@localhost")


@dataclass(frozen=True)
class NewProject:
    """What ``mlops-kit new`` created.

    Attributes:
        path: the project directory.
        template: the template name.
        version: the template version it was rendered from.
        answers: the recorded answers.
        committed: whether the project was committed to a new git repository.
    """

    path: Path
    template: str
    version: str
    answers: dict[str, Any]
    committed: bool


def templates_root() -> Path:
    """The directory of the templates shipped with the kit (inside a wheel, or the source tree)."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "templates", package.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise NotFoundError(f"the kit's templates are missing next to {package}: reinstall mlops-kit")


def build_repository(name: str, root: Path, destination: Path) -> Path:
    """Build the git repository of template ``name``: one commit and tag ``vX.Y.Z`` per version.

    Raises:
        NotFoundError: no such template.
        IntegrityError: a shipped version cannot be rebuilt or changed since its release.
    """
    with tempfile.TemporaryDirectory(prefix="mlops-kit-template-") as scratch:
        # Every version is rebuilt and checked before an existing repository is replaced.
        trees = version_trees(name, root, Path(scratch))
        if destination.exists():
            shutil.rmtree(destination)
        destination.mkdir(parents=True)
        _git(destination, "init", "-q", "-b", "main")
        for version, tree in trees:
            for entry in destination.iterdir():
                if entry.name != ".git":
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            shutil.copytree(tree, destination, dirs_exist_ok=True)
            _git(destination, "add", "-A")
            _git(destination, "commit", "-q", "--allow-empty", "-m", f"{name} {version}")
            _git(destination, "tag", f"v{version}")
    return destination


def new_project(
    directory: Path,
    environment: Environment,
    template: str = DEFAULT_TEMPLATE,
    data: Mapping[str, str] | None = None,
    root: Path | None = None,
    version: str | None = None,
) -> NewProject:
    """Render template ``template`` into ``directory``, wired to ``environment``.

    The project name is the directory's name unless ``data`` sets ``project_name``. Everything is
    rendered in a temporary directory first: on any error nothing is written.

    Args:
        directory: the new project's directory (missing or empty).
        environment: the environment the project uses by default; its coordinates are answered
            from it, and a cloud environment's file is copied into ``environments/``.
        template: the template name.
        data: answers to the template's questions (``key=value`` of ``--data``).
        root: where the templates are (default: the kit's own).
        version: the template version (default: the newest).

    Raises:
        ConfigError: invalid project name or answers.
        ConflictError: the directory exists and is not empty.
        NotFoundError: unknown template or version.
        IntegrityError: a shipped template version cannot be rebuilt or changed since its release.
    """
    copier = _copier()
    root = root or templates_root()
    versions = template_versions(template, root)
    version = version or versions[-1]
    if version not in versions:
        raise NotFoundError(
            f"template {template!r} has no version {version!r}: use one of {', '.join(versions)}"
        )
    with tempfile.TemporaryDirectory(prefix="mlops-kit-new-") as scratch:
        repository = build_repository(template, root, Path(scratch) / "repository")
        answers = _answers(directory, environment, data or {}, _questions(repository, version))
        if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
            raise ConflictError(
                f"{directory} already exists and is not empty: choose a new directory"
            )
        rendered = Path(scratch) / "project"
        try:
            copier.run_copy(
                str(repository),
                rendered,
                data=answers,
                vcs_ref=f"v{version}",
                defaults=True,
                quiet=True,
                unsafe=False,
            )
        except (copier.errors.CopierError, ValueError) as exc:
            raise ConfigError(f"template {template!r} rejected the answers: {exc}") from exc
        _relocate_repository(rendered, repository, template)
        if environment.name != "local":
            _write_environment(rendered, environment)
        directory.parent.mkdir(parents=True, exist_ok=True)
        if directory.exists():
            directory.rmdir()
        shutil.move(str(rendered), directory)
    committed = _commit_new(directory, template, version)
    recorded = yaml.safe_load((directory / ANSWERS_FILE).read_text(encoding="utf-8"))
    return NewProject(directory, template, version, recorded, committed)


def update_project(directory: Path, root: Path | None = None) -> tuple[str, str]:
    """Merge the newest template version into the project at ``directory`` (``copier update``).

    The project must be a clean git working tree; the merge is left uncommitted for review, with
    conflicts marked inline.

    Returns:
        The template version the project was on and the one it is on now (equal: nothing newer).

    Raises:
        NotFoundError: the directory is not a project made from a kit template.
        ConflictError: the working tree has uncommitted changes.
        IntegrityError: a shipped template version cannot be rebuilt or changed since its release.
    """
    import contextlib

    copier = _copier()
    answers_path = directory / ANSWERS_FILE
    if not answers_path.is_file():
        raise NotFoundError(
            f"{directory} has no {ANSWERS_FILE}: only projects made by `mlops-kit new` can be updated"
        )
    recorded = yaml.safe_load(answers_path.read_text(encoding="utf-8")) or {}
    source = str(recorded.get("_src_path", ""))
    template = Path(source).name
    if not source.startswith(REPOSITORY_DIR) or not template:
        raise NotFoundError(
            f"{answers_path} does not come from a kit template (_src_path: {source!r})"
        )
    versions = template_versions(template, root or templates_root())
    current = str(recorded.get("_commit", "")).removeprefix("v")
    if current == versions[-1]:
        return current, current
    status = _git(directory, "status", "--porcelain", check=False)
    if status is None:
        raise ConflictError(f"{directory} is not a git repository: commit the project first")
    if status.strip():
        raise ConflictError(
            f"{directory} has uncommitted changes: commit or stash them, then update"
        )
    build_repository(template, root or templates_root(), directory / REPOSITORY_DIR / template)
    # The answers name the repository relative to the project.
    with contextlib.chdir(directory):
        try:
            copier.run_update(
                ".", defaults=True, overwrite=True, quiet=True, unsafe=False, conflict="inline"
            )
        except copier.errors.CopierError as exc:
            raise ConflictError(f"copier update failed in {directory}: {exc}") from exc
    return current, versions[-1]


def _questions(repository: Path, version: str) -> list[str]:
    config = yaml.safe_load(_git(repository, "show", f"v{version}:copier.yml") or "") or {}
    return [key for key in config if not key.startswith("_")]


def _answers(
    directory: Path, environment: Environment, data: Mapping[str, str], questions: list[str]
) -> dict[str, Any]:
    fixed = sorted(_ENVIRONMENT_ANSWERS & set(data))
    if fixed:
        raise ConfigError(
            f"--data {', '.join(fixed)} come from the environment: choose it with --env instead"
        )
    unknown = sorted(set(data) - set(questions))
    if unknown:
        known = ", ".join(q for q in questions if q not in _ENVIRONMENT_ANSWERS)
        raise ConfigError(f"unknown --data {', '.join(unknown)}: the template asks {known}")
    name = data.get("project_name") or directory.name
    if not _PROJECT_NAME.match(name):
        raise ConfigError(
            f"invalid project name {name!r}: use 3-40 lower-case letters, digits or hyphens, "
            "starting with a letter (it names the directory, the package and the model)"
        )
    return {
        # A project pins the kit that made it, unless told otherwise.
        "kit_version": __version__,
        **data,
        "project_name": name,
        "environment": environment.name,
        "gcp_project": environment.project or "",
        "region": environment.region or "",
        "orchestrator": environment.orchestrator,
        "pipeline_root": environment.pipeline_root or "",
        "service_account": environment.service_accounts.get("pipeline_runner", ""),
        "deployer": environment.service_accounts.get("deployer", ""),
        "kit_index": environment.kit_index or "",
        "image_repository": environment.image_repository or "",
        "attestor": environment.attestor or "",
        "attestor_key": environment.attestor_key or "",
    }


def _relocate_repository(project: Path, repository: Path, template: str) -> None:
    inside = project / REPOSITORY_DIR / template
    inside.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(repository), inside)
    answers = project / ANSWERS_FILE
    text = answers.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^_src_path: .*$", f"_src_path: {REPOSITORY_DIR}/{template}", text)
    answers.write_text(text, encoding="utf-8")


def _write_environment(project: Path, environment: Environment) -> None:
    path = project / "environments" / f"{environment.name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Environment {environment.name!r}, copied by `mlops-kit new` from the kit's view.\n"
    body = yaml.safe_dump(environment.model_dump(mode="json"), sort_keys=False)
    path.write_text(header + body, encoding="utf-8")


def _commit_new(directory: Path, template: str, version: str) -> bool:
    if _git(directory, "init", "-q", "-b", "main", check=False) is None:
        return False
    _git(directory, "add", "-A")
    # The first commit is the user's when git knows who they are.
    known = bool((_git(directory, "config", "user.email", check=False, as_kit=False) or "").strip())
    message = f"New project from mlops-kit template {template} {version}"
    _git(directory, "commit", "-q", "-m", message, as_kit=not known)
    return True


def _git(directory: Path, *args: str, check: bool = True, as_kit: bool = True) -> str | None:
    identity = _GIT_IDENTITY if as_kit else ()
    try:
        result = run_git(directory, *identity, *args)
    except MissingDependencyError:
        if not check:
            return None
        raise
    if result.returncode != 0:
        if not check:
            return None
        stderr = result.stderr.decode(errors="replace").strip()
        raise ConfigError(f"git {args[0]} failed in {directory}: {stderr}")
    return result.stdout.decode()


def _copier() -> Any:
    try:
        import copier
        import copier.errors
    except ImportError as exc:
        raise MissingDependencyError.for_module("copier", "templates", "project templates") from exc
    return copier
