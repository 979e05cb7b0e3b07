"""Release a new template version (maintainers of the kit).

A released template version never changes, so a change to a template goes into a new version::

    python -m mlops_kit.scaffold.releases start churn 1.2.0   # copies 1.1.0/ to 1.2.0/
    # edit templates/churn/1.2.0/, try it with `mlops-kit new`, run the tests
    python -m mlops_kit.scaffold.releases release churn

``release`` turns the previous version's full tree into ``releases/1.1.0.diff`` (the patch from
1.1.0 to 1.2.0), checks that the diff rebuilds 1.1.0 exactly, removes ``1.1.0/`` and records the
tree hash of 1.2.0 in ``releases.json``. Review the diff and commit ``templates/churn``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mlops_kit.errors import ConfigError, ConflictError, MlopsKitError
from mlops_kit.scaffold import templates_root
from mlops_kit.scaffold.versions import (
    RELEASE_COMMAND,
    RELEASES_DIR,
    VERSION,
    diff_versions,
    released_hashes,
    template_versions,
    tree_hash,
    version_key,
    version_trees,
    write_released_hashes,
)


def start_version(name: str, version: str, root: Path) -> Path:
    """Start ``version`` of template ``name`` as a copy of its newest released version.

    Returns:
        The new version's directory, to edit.

    Raises:
        ConfigError: ``version`` is not ``X.Y.Z`` newer than every version.
        ConflictError: the newest version is not released yet.
    """
    if not VERSION.match(version):
        raise ConfigError(f"invalid version {version!r}: use X.Y.Z, e.g. 1.2.0")
    versions = template_versions(name, root)
    newest = versions[-1]
    if newest not in released_hashes(name, root):
        raise ConflictError(
            f"template {name!r} {newest} is not released yet: release it first "
            f"(`{RELEASE_COMMAND} release {name}`) or keep editing {newest}/"
        )
    if version_key(version) <= version_key(newest):
        raise ConfigError(f"version {version} of template {name!r} must be newer than {newest}")
    with tempfile.TemporaryDirectory(prefix="mlops-kit-release-") as scratch:
        # A copy of a changed release would carry the change unnoticed into the new version.
        version_trees(name, root, Path(scratch))
    return Path(shutil.copytree(root / name / newest, root / name / version))


def release_versions(name: str, root: Path) -> list[str]:
    """Release every unreleased version of template ``name``, oldest first.

    Each one's predecessor becomes ``releases/PREDECESSOR.diff`` (checked to rebuild it exactly)
    and its directory is removed; the released version's tree hash is recorded.

    Returns:
        The versions released.

    Raises:
        ConfigError: nothing to release, an unreleased version older than a released one, or a
            version identical to its predecessor.
        IntegrityError: a released version changed.
    """
    versions = template_versions(name, root)
    hashes = released_hashes(name, root)
    drafts = [version for version in versions if version not in hashes]
    if not drafts:
        raise ConfigError(
            f"template {name!r} has nothing to release: start a version first "
            f"(`{RELEASE_COMMAND} start {name} X.Y.Z`)"
        )
    if drafts != versions[len(versions) - len(drafts) :]:
        raise ConfigError(
            f"template {name!r} {drafts[0]} is older than a released version: "
            "give it a newer version number"
        )
    template = root / name
    with tempfile.TemporaryDirectory(prefix="mlops-kit-release-") as scratch:
        version_trees(name, root, Path(scratch))
    for draft in drafts:
        index = versions.index(draft)
        if index > 0:
            _replace_with_diff(name, root, versions[index - 1], draft)
        hashes[draft] = tree_hash(template / draft)
        write_released_hashes(name, root, hashes)
    return drafts


def _replace_with_diff(name: str, root: Path, previous: str, version: str) -> None:
    template = root / name
    patch = diff_versions(template, previous, version)
    if not patch:
        raise ConfigError(
            f"template {name!r} {version} is identical to {previous}: change it before releasing"
        )
    diff = template / RELEASES_DIR / f"{previous}.diff"
    diff.parent.mkdir(exist_ok=True)
    diff.write_bytes(patch)
    kept = template / f".{previous}.releasing"
    # With the full tree out of the way, every build rebuilds the previous version from the diff
    # and checks it against its recorded hash: check that once here.
    shutil.move(template / previous, kept)
    try:
        with tempfile.TemporaryDirectory(prefix="mlops-kit-release-") as scratch:
            version_trees(name, root, Path(scratch))
    except BaseException:
        diff.unlink()
        shutil.move(kept, template / previous)
        raise
    shutil.rmtree(kept)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mlops_kit.scaffold.releases start|release``: one line on error, exit non-zero."""
    parser = argparse.ArgumentParser(
        prog=RELEASE_COMMAND, description="Start and release template versions."
    )
    parser.add_argument(
        "--root", type=Path, default=None, help="the templates directory (default: the kit's)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="copy the newest version to a new version to edit")
    start.add_argument("template")
    start.add_argument("version")
    release = commands.add_parser(
        "release", help="store the previous version as a diff and record the new version's hash"
    )
    release.add_argument("template")
    args = parser.parse_args(argv)
    try:
        root = args.root or templates_root()
        if args.command == "start":
            created = start_version(args.template, args.version, root)
            print(
                f"started {args.template} {args.version} in {created}: edit it, then "
                f"`{RELEASE_COMMAND} release {args.template}`"
            )
        else:
            for version in release_versions(args.template, root):
                print(f"released {args.template} {version}")
            print(f"review and commit {root / args.template}")
    except MlopsKitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
