"""How the kit stores the versions of a template: one full tree, earlier versions as diffs.

A template ``templates/NAME/`` holds:

- ``VERSION/``: the full copier template of its newest version (and, while a maintainer prepares
  the next one, that version too, not yet released);
- ``releases/VERSION.diff``: for every earlier version, the patch that turns it into the next
  version, as ``git diff --no-index VERSION NEXT`` prints it in ``templates/NAME``;
- ``releases.json``: the tree hash (:func:`tree_hash`) of every released version.

:func:`version_trees` rebuilds every version from the newest by applying the diffs in reverse
and checks each released version against its recorded hash, so a released version that changed
(edited in place, or a broken diff) is refused instead of shipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Final

from mlops_kit.errors import ConfigError, IntegrityError, MissingDependencyError, NotFoundError

RELEASES_DIR: Final = "releases"
RELEASES_FILE: Final = "releases.json"
RELEASE_COMMAND: Final = "python -m mlops_kit.scaffold.releases"
VERSION: Final = re.compile(r"^\d+\.\d+\.\d+$")


def version_key(version: str) -> tuple[int, ...]:
    """The sort key of a version ``X.Y.Z``: numeric, so 1.10.0 follows 1.9.0."""
    return tuple(int(part) for part in version.split("."))


def template_versions(name: str, root: Path) -> list[str]:
    """The versions of template ``name`` (full trees and diffs), oldest first.

    Raises:
        NotFoundError: no such template.
    """
    directory = root / name
    versions = set(_full_versions(directory))
    if (directory / RELEASES_DIR).is_dir():
        versions |= {
            p.stem
            for p in (directory / RELEASES_DIR).iterdir()
            if p.suffix == ".diff" and VERSION.match(p.stem)
        }
    if not versions:
        known = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        raise NotFoundError(
            f"unknown template {name!r}: use one of {', '.join(known) or 'none'} (--template NAME)"
        )
    return sorted(versions, key=version_key)


def tree_hash(directory: Path) -> str:
    """The content hash of a template tree: every file's relative path and bytes.

    Empty directories do not count (git does not keep them either).
    """
    manifest = hashlib.sha256()
    files = sorted(
        (p.relative_to(directory).as_posix(), p) for p in directory.rglob("*") if p.is_file()
    )
    for relative, path in files:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        manifest.update(f"{digest}  {relative}\n".encode())
    return f"sha256:{manifest.hexdigest()}"


def released_hashes(name: str, root: Path) -> dict[str, str]:
    """The recorded tree hash of each released version of template ``name`` (none: no file)."""
    path = root / name / RELEASES_FILE
    if not path.is_file():
        return {}
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise IntegrityError(f"{path} is not valid JSON ({exc}): reinstall mlops-kit") from exc
    if not isinstance(recorded, dict) or not all(
        isinstance(k, str) and VERSION.match(k) and isinstance(v, str) for k, v in recorded.items()
    ):
        raise IntegrityError(f"{path} must map versions X.Y.Z to tree hashes: reinstall mlops-kit")
    return recorded


def write_released_hashes(name: str, root: Path, hashes: dict[str, str]) -> None:
    """Record the tree hash of each released version of template ``name``, oldest first."""
    ordered = {version: hashes[version] for version in sorted(hashes, key=version_key)}
    (root / name / RELEASES_FILE).write_text(json.dumps(ordered, indent=2) + "\n", "utf-8")


def version_trees(name: str, root: Path, scratch: Path) -> list[tuple[str, Path]]:
    """Every version of template ``name`` as a full tree, oldest first, each checked.

    A version stored as a diff is rebuilt in ``scratch`` from the next version's tree; a full
    tree is used where it is. Every version recorded in ``releases.json`` must have its hash.

    Raises:
        NotFoundError: no such template.
        IntegrityError: a diff does not apply, or a released version's tree changed.
        ConfigError: a version is stored both as a tree and as a diff.
    """
    template = root / name
    versions = template_versions(name, root)
    recorded = released_hashes(name, root)
    lost = sorted(set(recorded) - set(versions), key=version_key)
    if lost:
        raise IntegrityError(
            f"template {name!r} {lost[0]} is recorded in {RELEASES_FILE} but has neither a "
            f"directory nor {RELEASES_DIR}/{lost[0]}.diff: reinstall mlops-kit"
        )
    unrecorded = [v for v in versions if not (template / v).is_dir() and v not in recorded]
    if unrecorded:
        raise IntegrityError(
            f"template {name!r} {unrecorded[0]} has {RELEASES_DIR}/{unrecorded[0]}.diff but no "
            f"hash in {RELEASES_FILE}: reinstall mlops-kit"
        )
    trees: list[tuple[str, Path]] = []
    successor: Path | None = None
    for version in reversed(versions):
        diff = template / RELEASES_DIR / f"{version}.diff"
        if (template / version).is_dir():
            if diff.exists():
                raise ConfigError(
                    f"template {name!r} {version} is both {version}/ and {RELEASES_DIR}/"
                    f"{version}.diff: remove one of them"
                )
            tree = template / version
        elif successor is None:
            raise IntegrityError(
                f"template {name!r} {version}: {RELEASES_DIR}/{version}.diff has no newer version "
                "to apply to: reinstall mlops-kit"
            )
        else:
            tree = scratch / name / version
            shutil.copytree(successor, tree)
            _apply_reverse(name, version, diff, tree)
        if version in recorded and tree_hash(tree) != recorded[version]:
            raise IntegrityError(_changed(name, version, rebuilt=tree != template / version))
        trees.append((version, tree))
        successor = tree
    return trees[::-1]


def diff_versions(template: Path, older: str, newer: str) -> bytes:
    """The patch that turns ``template/older`` into ``template/newer`` (empty: identical).

    Written the same on every machine: the user's git configuration and any enclosing
    repository are ignored, renames are a deletion and an addition, binary files are included.
    """
    result = run_git(
        template,
        "diff",
        "--no-index",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--no-renames",
        "--binary",
        "--unified=3",
        "--diff-algorithm=myers",
        "--src-prefix=a/",
        "--dst-prefix=b/",
        "--",
        older,
        newer,
        plain=True,
    )
    # git diff --no-index exits 1 when the trees differ, like diff(1).
    if result.returncode not in (0, 1):
        raise ConfigError(f"git diff failed in {template}: {_git_error(result)}")
    return result.stdout


def run_git(directory: Path, *args: str, plain: bool = False) -> subprocess.CompletedProcess[bytes]:
    """Run git in ``directory``; ``plain``: outside any repository and git configuration.

    Raises:
        MissingDependencyError: git is not installed.
    """
    env = None
    if plain:
        # Patches are written and applied alike everywhere: no enclosing repository (which would
        # make paths relative to its top), no user or system settings (prefixes, renames, colour).
        env = {
            **os.environ,
            "GIT_CEILING_DIRECTORIES": str(directory.resolve().parent),
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
        }
    try:
        return subprocess.run(["git", *args], cwd=directory, capture_output=True, env=env)
    except FileNotFoundError as exc:
        raise MissingDependencyError("templates need git, which is not installed") from exc


def _full_versions(template: Path) -> list[str]:
    if not template.is_dir():
        return []
    return [p.name for p in template.iterdir() if p.is_dir() and VERSION.match(p.name)]


def _apply_reverse(name: str, version: str, diff: Path, tree: Path) -> None:
    # Paths in a diff read a/OLDER/... and b/NEWER/...: -p2 makes them relative to the tree.
    result = run_git(
        tree, "apply", "--reverse", "-p2", "--whitespace=nowarn", str(diff.resolve()), plain=True
    )
    if result.returncode != 0:
        raise IntegrityError(
            f"template {name!r} {version} cannot be rebuilt from {RELEASES_DIR}/{diff.name} "
            f"({_git_error(result)}): the installed kit is damaged, reinstall mlops-kit"
        )


def _changed(name: str, version: str, *, rebuilt: bool) -> str:
    if rebuilt:
        return (
            f"template {name!r} {version} rebuilt from {RELEASES_DIR}/{version}.diff differs from "
            f"its release in {RELEASES_FILE}: restore the diff (git checkout), or reinstall "
            "mlops-kit"
        )
    major, minor, _ = version_key(version)
    return (
        f"template {name!r} {version} differs from its release in {RELEASES_FILE}: released "
        "versions never change, undo the edit and make it in a new version "
        f"(`{RELEASE_COMMAND} start {name} {major}.{minor + 1}.0`)"
    )


def _git_error(result: subprocess.CompletedProcess[bytes]) -> str:
    lines = result.stderr.decode(errors="replace").strip().splitlines()
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    return (errors or lines or [f"exit code {result.returncode}"])[0]
