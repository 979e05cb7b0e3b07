"""Template versions stored as diffs: releasing through the command, rebuilding, tamper checks."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from mlops_kit.errors import IntegrityError
from mlops_kit.scaffold import build_repository, templates_root
from mlops_kit.scaffold.releases import main
from mlops_kit.scaffold.versions import (
    RELEASES_FILE,
    diff_versions,
    released_hashes,
    template_versions,
    tree_hash,
    version_trees,
)

# Names as copier templates have them: braces, spaces, conditions, non-ASCII.
CONDITIONAL = "project/{% if docs %}docs{% endif %}/user guide {{ name }}.md.jinja"
CONFIG = "project/configs/{% if env != 'local' %}{{ env }}.yaml{% endif %}.jinja"
# A templates directory and the files of each released version of its template ``demo``.
Released = tuple[Path, dict[str, dict[str, bytes]]]


def _files(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file()
    }


def _tag_files(repository: Path, tag: str) -> dict[str, bytes]:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", tag], cwd=repository, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def _write(tree: Path, files: dict[str, bytes]) -> None:
    for relative, content in files.items():
        (tree / relative).parent.mkdir(parents=True, exist_ok=True)
        (tree / relative).write_bytes(content)


def _release(root: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["--root", str(root), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def released(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Released:
    """Template ``demo`` released as 1.0.0, 1.1.0 and 1.2.0 through the command; each tree."""
    root = tmp_path / "templates"
    first = {
        "copier.yml": b"_subdirectory: project\nname:\n  type: str\n",
        CONDITIONAL: b"# Guide for {{ name }}\n\nStep one.\n",
        CONFIG: b"env: {{ env }}\nmax_iter: 150\n",
        "project/README.md.jinja": b"# {{ name }}\n\n## Run\n",
        "project/logo.png": bytes(range(256)) * 4,
        "project/café.txt": "un café\r\nsans fin de ligne".encode(),
        "project/old.txt": b"removed in 1.1.0\n",
        "project/empty.txt": b"",
    }
    _write(root / "demo" / "1.0.0", first)
    assert _release(root, "release", "demo", capsys=capsys) == (
        0,
        f"released demo 1.0.0\nreview and commit {root / 'demo'}\n",
    )
    trees = {"1.0.0": first}

    code, said = _release(root, "start", "demo", "1.1.0", capsys=capsys)
    assert code == 0, said
    assert f"started demo 1.1.0 in {root / 'demo' / '1.1.0'}" in said
    second = {k: v for k, v in first.items() if k != "project/old.txt"}
    second[CONFIG] = b"env: {{ env }}\nmax_iter: 300\nweak_slice_min_count: 50\n"
    second["project/logo.png"] = bytes(reversed(range(256))) * 4
    second["project/CONTRIBUTING.md"] = b"Open a pull request.\n"
    (root / "demo" / "1.1.0" / "project" / "old.txt").unlink()
    _write(root / "demo" / "1.1.0", second)
    assert _release(root, "release", "demo", capsys=capsys)[0] == 0
    trees["1.1.0"] = second

    assert _release(root, "start", "demo", "1.2.0", capsys=capsys)[0] == 0
    third = dict(second)
    third[CONDITIONAL] = b"# Guide for {{ name }}\n\nStep one.\nStep two.\n"
    third["project/README.md.jinja"] = b"# {{ name }}\n\n## Run\n\n## Retraining\n"
    third["project/café.txt"] = "un café\r\nsans fin de ligne, sans sucre".encode()
    _write(root / "demo" / "1.2.0", third)
    assert _release(root, "release", "demo", capsys=capsys)[0] == 0
    trees["1.2.0"] = third
    return root, trees


def test_a_template_keeps_one_full_tree_and_earlier_versions_as_diffs(
    released: Released,
) -> None:
    root, _ = released
    template = root / "demo"
    assert sorted(p.name for p in template.iterdir()) == ["1.2.0", "releases", RELEASES_FILE]
    assert sorted(p.name for p in (template / "releases").iterdir()) == [
        "1.0.0.diff",
        "1.1.0.diff",
    ]
    assert template_versions("demo", root) == ["1.0.0", "1.1.0", "1.2.0"]
    diff = (template / "releases" / "1.1.0.diff").read_text(encoding="utf-8")
    assert "--- a/1.1.0/project/README.md.jinja\n+++ b/1.2.0/project/README.md.jinja\n" in diff
    assert "+## Retraining\n" in diff
    hashes = json.loads((template / RELEASES_FILE).read_text(encoding="utf-8"))
    assert list(hashes) == ["1.0.0", "1.1.0", "1.2.0"]
    assert hashes["1.2.0"] == tree_hash(template / "1.2.0")


def test_every_tag_of_the_built_repository_is_its_released_tree(
    released: Released, tmp_path: Path
) -> None:
    root, trees = released
    repository = build_repository("demo", root, tmp_path / "repository")
    tags = subprocess.run(["git", "tag"], cwd=repository, capture_output=True, text=True)
    assert tags.stdout.split() == ["v1.0.0", "v1.1.0", "v1.2.0"]
    for version, files in trees.items():
        assert _tag_files(repository, f"v{version}") == files, version
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=repository, capture_output=True, text=True
    )
    assert log.stdout.split("\n")[:3] == ["demo 1.2.0", "demo 1.1.0", "demo 1.0.0"]


def test_rebuilding_and_diffs_ignore_an_enclosing_repository_and_git_settings(
    released: Released, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    root, trees = released
    # Inside a repository, git apply would take paths from its top and skip the rest.
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    config = tmp_path / "gitconfig"
    config.write_text(
        "[diff]\n\tnoprefix = true\n\trenames = copies\n\tsuppressBlankEmpty = true\n"
        "[core]\n\tquotePath = false\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    rebuilt = dict(version_trees("demo", root, tmp_path / "scratch"))
    assert {version: _files(tree) for version, tree in rebuilt.items()} == trees
    # The committed diff is reproducible on any machine: the same bytes from the same trees.
    for version, tree in rebuilt.items():
        shutil.copytree(tree, tmp_path / "again" / version)
    for older, newer in (("1.0.0", "1.1.0"), ("1.1.0", "1.2.0")):
        committed = (root / "demo" / "releases" / f"{older}.diff").read_bytes()
        assert diff_versions(tmp_path / "again", older, newer) == committed


def test_a_diff_that_does_not_apply_is_one_line_naming_version_and_file(
    released: Released, tmp_path: Path
) -> None:
    root, _ = released
    diff = root / "demo" / "releases" / "1.1.0.diff"
    diff.write_bytes(diff.read_bytes().replace(b" ## Run\n", b" ## Running\n"))
    with pytest.raises(IntegrityError) as raised:
        build_repository("demo", root, tmp_path / "repository")
    message = str(raised.value)
    assert message.startswith(
        "template 'demo' 1.1.0 cannot be rebuilt from releases/1.1.0.diff "
        "(patch failed: project/README.md.jinja:"
    )
    assert message.endswith("the installed kit is damaged, reinstall mlops-kit")
    assert "\n" not in message
    assert not (tmp_path / "repository").exists()


def test_a_diff_that_applies_but_changes_a_release_is_caught(
    released: Released, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = released
    diff = root / "demo" / "releases" / "1.0.0.diff"
    # A removed line is what the reverse patch restores: changing it changes 1.0.0 silently.
    diff.write_bytes(diff.read_bytes().replace(b"-max_iter: 150", b"-max_iter: 1500"))
    code, said = _release(root, "start", "demo", "1.3.0", capsys=capsys)
    assert code == IntegrityError.exit_code
    assert said == (
        "error: template 'demo' 1.0.0 rebuilt from releases/1.0.0.diff differs from its release "
        "in releases.json: restore the diff (git checkout), or reinstall mlops-kit\n"
    )
    assert not (root / "demo" / "1.3.0").exists()


def test_editing_the_newest_release_in_place_is_refused(
    released: Released,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, _ = released
    readme = root / "demo" / "1.2.0" / "project" / "README.md.jinja"
    readme.write_text(readme.read_text(encoding="utf-8") + "More.\n", encoding="utf-8")
    with pytest.raises(IntegrityError, match="start demo 1.3.0"):
        build_repository("demo", root, tmp_path / "repository")
    code, said = _release(root, "release", "demo", capsys=capsys)
    assert code == 2
    assert said == (
        "error: template 'demo' has nothing to release: start a version first "
        "(`python -m mlops_kit.scaffold.releases start demo X.Y.Z`)\n"
    )
    code, said = _release(root, "start", "demo", "1.3.0", capsys=capsys)
    assert code == IntegrityError.exit_code
    assert said == (
        "error: template 'demo' 1.2.0 differs from its release in releases.json: released "
        "versions never change, undo the edit and make it in a new version "
        "(`python -m mlops_kit.scaffold.releases start demo 1.3.0`)\n"
    )


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["start", "demo", "1.2"], 2, "invalid version '1.2': use X.Y.Z"),
        (
            ["start", "demo", "1.1.5"],
            2,
            "version 1.1.5 of template 'demo' must be newer than 1.2.0",
        ),
        (["start", "nope", "1.0.0"], 3, "unknown template 'nope': use one of demo"),
        (["release", "demo"], 2, "template 'demo' has nothing to release"),
    ],
)
def test_bad_release_commands_are_one_line(
    released: Released,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    exit_code: int,
    message: str,
) -> None:
    root, _ = released
    before = _files(root)
    code, said = _release(root, *args, capsys=capsys)
    assert code == exit_code
    assert said.startswith(f"error: {message}")
    assert len(said.strip().splitlines()) == 1
    assert _files(root) == before


def test_a_version_is_started_once_and_released_only_when_it_changes(
    released: Released, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = released
    assert _release(root, "start", "demo", "1.3.0", capsys=capsys)[0] == 0
    code, said = _release(root, "start", "demo", "1.4.0", capsys=capsys)
    assert code == 4
    assert "template 'demo' 1.3.0 is not released yet: release it first" in said
    before = _files(root)
    code, said = _release(root, "release", "demo", capsys=capsys)
    assert code == 2
    assert said == (
        "error: template 'demo' 1.3.0 is identical to 1.2.0: change it before releasing\n"
    )
    assert _files(root) == before
    assert released_hashes("demo", root).keys() == {"1.0.0", "1.1.0", "1.2.0"}


def test_the_release_command_runs_as_a_module(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    _write(root / "demo" / "1.0.0", {"copier.yml": b"name:\n  type: str\n"})
    command = ["-m", "mlops_kit.scaffold.releases", "--root", str(root), "release", "demo"]
    result = subprocess.run(
        [sys.executable, "-W", "error", *command], capture_output=True, text=True
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("released demo 1.0.0\n")


def test_the_shipped_templates_are_released_with_one_full_tree(tmp_path: Path) -> None:
    root = templates_root()
    for template in (p for p in root.iterdir() if p.is_dir()):
        versions = template_versions(template.name, root)
        full = [v for v in versions if (template / v).is_dir()]
        assert full == versions[-1:], f"{template.name}: only the newest version is a full tree"
        assert list(released_hashes(template.name, root)) == versions, "every version released"
        # Each rebuilt version is checked against its recorded hash.
        assert [v for v, _ in version_trees(template.name, root, tmp_path / template.name)] == (
            versions
        )
