"""The bad-input sweep: no input a user can give ends in "internal error" (exit 70).

Every command is fed arbitrary text as its arguments and option values, and files of arbitrary
bytes wherever it reads a file; it must either work or fail with one line and a usage (2),
not-found (3), conflict (4) or data (5) exit code. The inputs the first sweep found are kept as
named cases.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_kit.cli import app, main
from tests.conftest import CliResult

# Commands that, given any name, create a project or run a pipeline end to end: seconds each,
# and their arguments are names that need no sweep.
_NOT_SWEPT = {("new",), ("update",), ("quickstart",), ("pipeline", "run")}
# Options whose value a command reads as a file, and the one that writes one.
_READ_FILES = {"--from", "--metrics", "--spec", "path", "instances"}
_WRITTEN_FILES = {"--html", "--output", "destination"}
_EXPECTED_CODES = {0, 1, 2, 3, 4, 5}


def _commands() -> Iterator[tuple[tuple[str, ...], click.Command]]:
    def walk(
        command: click.Command, path: tuple[str, ...]
    ) -> Iterator[tuple[tuple[str, ...], click.Command]]:
        children = getattr(command, "commands", None)
        if children:
            for name, child in sorted(children.items()):
                yield from walk(child, (*path, name))
        elif path not in _NOT_SWEPT:
            yield path, command

    yield from walk(typer.main.get_command(app), ())


COMMANDS = dict(_commands())

# Text a shell can pass: no NUL (argv cannot hold one); surrogates stand for undecodable bytes.
ARGUMENT = st.text(
    alphabet=st.characters(blacklist_characters="\x00"), max_size=40
) | st.sampled_from(
    ["", "-", "--", "nan", "inf", "-1", "9" * 30, "churn@" + "9" * 25, "../x", "a" * 5000]
)


def invoke(*args: str) -> CliResult:
    """Run the CLI in this process and capture what it printed."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return CliResult(code, out.getvalue(), err.getvalue())


def assert_handled(result: CliResult, args: list[str]) -> None:
    """The command worked, or said what was wrong in one line with a usage or data exit code."""
    said = result.stderr + result.stdout
    shown = [arg[:80] for arg in args]
    assert "internal error" not in said and "Traceback" not in said, (shown, said[-2000:])
    assert result.exit_code in _EXPECTED_CODES, (shown, result.exit_code, said[-2000:])
    if result.exit_code:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, (shown, result.stderr[-2000:])
        assert len(lines[0]) < 1000, (shown, lines[0][:200])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A project on the local twin with one dataset version, shared by the sweep's examples."""
    root = tmp_path_factory.mktemp("sweep")
    (root / "mlops-kit.yaml").write_text("local_root: .mlops\n", encoding="utf-8")
    (root / "churn.csv").write_text("tenure,churned\n1,0\n5,1\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        assert invoke("data", "snapshot", "churn", "--from", "churn.csv").exit_code == 0
        yield root


@pytest.mark.slow
@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
@settings(max_examples=5, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_input_reaches_an_internal_error(
    project: Path, path: tuple[str, ...], data: st.DataObject
) -> None:
    command = COMMANDS[path]
    args = list(path)
    for parameter in command.params:
        if parameter.name == "help" or not data.draw(st.booleans(), label=f"give {parameter.name}"):
            continue
        option = parameter.opts[0]
        names = {option, str(parameter.name)}
        if names & _READ_FILES:
            given_file = project / f"input-{len(args)}.bin"
            given_file.write_bytes(data.draw(st.binary(max_size=200), label=option))
            value = str(given_file)
        elif names & _WRITTEN_FILES:
            value = str(project / "out" / f"written-{len(args)}")
        else:
            value = data.draw(ARGUMENT, label=option)
        if isinstance(parameter, click.Option):
            if parameter.is_flag:
                args.append(option)
                continue
            args.append(option)
        args.append(value)
    assert_handled(invoke(*args), args)


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["env", "import", "x", "--from", "{binary}"], 2, "not UTF-8 text"),
        (["models", "register", "m", "churn.csv", "--metrics", "{binary}"], 2, "not UTF-8 text"),
        (["monitor", "check", "m", "--spec", "{binary}"], 2, "not UTF-8 text"),
        (["data", "show", "churn@999999999999999999999"], 2, "a number from 1 to"),
        (["data", "diff", "churn@1", "churn@²"], 2, "a number from 1 to"),
        (["data", "show", "churn@2147483648"], 2, "a number from 1 to 2147483647"),
        (["models", "show", "churn@999999999999999999999"], 2, "a number from 1 to"),
        (["models", "gc", "--grace-hours", "nan"], 2, "--grace-hours nan"),
        (["models", "gc", "--grace-hours", "inf"], 2, "--grace-hours inf"),
        (
            ["--metadata", "postgresql://u:hunter2@[::1/x", "data", "versions", "churn"],
            2,
            "u:\\*\\*\\*@",
        ),
        (
            ["--metadata", "sqlite:///{binary}/metadata.db", "data", "versions", "churn"],
            2,
            "binary.bin' of SQLite database 'metadata.db' does not exist: create it",
        ),
        (
            ["--metadata", "sqlite:///{project}/typo/metadata.db", "data", "versions", "churn"],
            2,
            "typo' of SQLite database 'metadata.db' does not exist: create it",
        ),
        (
            ["--warehouse", "", "data", "versions", "churn"],
            2,
            "URI given \\(--warehouse\\) is empty",
        ),
        (
            ["--artifacts", " ", "models", "versions", "m"],
            2,
            "URI given \\(--artifacts\\) is empty",
        ),
        (
            ["models", "register", "m", "churn.csv", "--metrics", "{infinite}"],
            2,
            "overall.accuracy = inf is not a finite number",
        ),
        (
            ["models", "register", "m", "churn.csv", "--metrics", "{nan}"],
            2,
            "overall.f1 = nan is not a finite number",
        ),
        (
            ["data", "snapshot", "mixed", "--from", "mixed.jsonl"],
            2,
            "column 'a' has unsupported type",
        ),
        (["data", "show", "x" * 100_000], 2, "invalid dataset name 'xxx"),
        (["predict", "{deep}"], 2, "deep.json' nests its JSON too deep to be read: write"),
        (["env", "import", "x", "--from", "{deep}"], 2, "nests its JSON too deep to be read"),
    ],
)
def test_inputs_the_sweep_found(project: Path, args: list[str], code: int, said: str) -> None:
    binary = project / "binary.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    (project / "mixed.jsonl").write_text('{"a": 1}\n{"a": "x"}\n', encoding="utf-8")
    (project / "infinite.json").write_text('{"accuracy": Infinity}', encoding="utf-8")
    (project / "nan.json").write_text('{"overall": {"f1": NaN}}', encoding="utf-8")
    (project / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    names = {"{binary}": binary, "{project}": project, "{deep}": project / "deep.json"}
    names |= {"{infinite}": project / "infinite.json", "{nan}": project / "nan.json"}
    for placeholder, path in names.items():
        args = [arg.replace(placeholder, str(path)) for arg in args]
    result = invoke(*args)
    assert_handled(result, args)
    assert result.exit_code == code, result.stderr
    assert re.search(said, result.stderr), result.stderr
    assert "hunter2" not in result.stderr
    assert len(result.stderr) < 400
    assert not (project / "typo").exists()  # a refused input changes nothing


def test_a_local_root_that_is_a_file_is_named(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_KIT_LOCAL_ROOT", str(project / "churn.csv"))
    result = invoke("data", "versions", "churn")
    assert_handled(result, [])
    assert result.exit_code == 2 and "is a file, not a folder" in result.stderr


@pytest.mark.parametrize("window", ["99999999999d", "0h", "7y", "1e3d"])
def test_windows_beyond_a_century_or_malformed_are_refused(window: str) -> None:
    from mlops_kit.errors import ConfigError
    from mlops_kit.monitoring.window import window_hours

    with pytest.raises(ConfigError, match="invalid window"):
        window_hours(window)


@pytest.mark.parametrize(
    "cron", ["61 * * * *", "*/0 * * * *", "0 24 * * *", "* * * *", "0 3 * * 1 5", "@daily"]
)
def test_cron_expressions_are_checked_by_a_cron_parser(cron: str) -> None:
    from mlops_kit.errors import ConfigError
    from mlops_kit.orchestrators import check_cron

    with pytest.raises(ConfigError, match="malformed cron expression"):
        check_cron(cron)
    assert check_cron(" 0  3 * * mon ") == "0 3 * * mon"
