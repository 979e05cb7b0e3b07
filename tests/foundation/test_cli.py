"""The CLI: doctor, env and db commands, one-line errors, and a light import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_doctor_creates_and_checks_the_local_twin(project_dir: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("doctor", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["environment"] == "local"
    assert [r["role"] for r in report["roles"]] == [
        "warehouse",
        "artifacts",
        "metadata",
        "orchestrator",
    ]
    assert all(r["ok"] for r in report["roles"]), report
    assert (project_dir / ".mlops" / "metadata.db").is_file()
    assert (project_dir / ".mlops" / "warehouse.duckdb").is_file()
    table = run_cli("doctor")
    assert table.exit_code == 0 and "orchestrator" in table.stdout


def test_doctor_names_the_broken_role(project_dir: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--metadata", "postgresql://kit:hunter2@127.0.0.1:9/kit", "doctor")
    assert result.exit_code != 0
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: 1 role(s) broken: metadata;")
    assert "Traceback" not in result.stderr + result.stdout
    assert "hunter2" not in result.stderr + result.stdout  # the report shows no password


def test_user_errors_are_one_line_without_traceback(project_dir: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    cases = [
        (("--env", "qa", "doctor"), "unknown environment 'qa'"),
        (("--artifacts", "s3://b/p", "doctor"), "unknown artifacts scheme 's3'"),
        (("env", "import", "dev", "--from", "missing.json"), "cannot read stack outputs"),
        (("db", "upgrade", "nope"), "unknown schema revision 'nope'"),
        (("data", "versions", "churn", "--bogus"), "No such option: --bogus"),
        (("data", "nosuch"), "No such command 'nosuch'"),
    ]
    for args, message in cases:
        result = run_cli(*args)
        assert result.exit_code != 0, args
        assert result.stderr.count("\n") == 1, result.stderr
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_debug_shows_the_traceback(project_dir: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--debug", "--env", "qa", "doctor")
    assert result.exit_code != 0 and "Traceback" in result.stderr


def test_env_import_list_show(project_dir: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("env", "import", "dev", "--from", str(FIXTURES / "stack-outputs-dev.json"))
    assert result.exit_code == 0, result.stderr
    listed = json.loads(run_cli("env", "list", "--format", "json").stdout)
    assert listed == [{"name": "dev", "selected": False}, {"name": "local", "selected": True}]
    shown = json.loads(run_cli("--env", "dev", "env", "show", "--format", "json").stdout)
    assert shown["warehouse"] == "bigquery://acme-ml-dev/mlops_dev"
    assert shown["orchestrator"] == "kfp+https://kfp.dev.internal.acme.example"


def test_db_upgrade_and_current(project_dir: Path, metadata_url: str, run_cli) -> None:  # type: ignore[no-untyped-def]
    from mlops_kit.db import migrate

    first = run_cli("--metadata", metadata_url, "db", "upgrade")
    assert first.exit_code == 0 and "upgraded empty ->" in first.stdout
    again = run_cli("--metadata", metadata_url, "db", "upgrade")
    assert again.exit_code == 0 and "nothing to do" in again.stdout
    current = run_cli("--metadata", metadata_url, "db", "current")
    assert f"at {migrate.head()}, head {migrate.head()} (up to date)" in current.stdout


# What running a command adds to sys.modules, in a fresh interpreter (some google-cloud wheels
# install a .pth file that creates the bare ``google.cloud`` namespace at interpreter start: only
# what the command adds counts).
_IMPORTED_BY = """
import json, sys
before = set(sys.modules)
from mlops_kit.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))
"""

# The libraries a command needs when it runs, never to start or to show its help.
_HEAVY = {"pandas", "duckdb", "sqlalchemy", "google", "kfp", "pulumi", "pulumi_gcp", "ibis"}
_HEAVY |= {"pyarrow", "numpy", "pydantic", "yaml", "alembic"}


def _top_level_modules_imported_by(*args: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", _IMPORTED_BY, *args], check=True, capture_output=True, text=True
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_help_imports_no_library_a_command_needs_to_run() -> None:
    imported = _top_level_modules_imported_by("--help")
    assert imported & _HEAVY == set()
    # Nor rich: the root help lists the commands without importing their modules.
    assert "rich" not in imported


def test_a_command_help_imports_only_its_own_command_module() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _IMPORTED_BY.replace(
                "{m.split('.')[0] for m in set(sys.modules) - before}",
                "set(sys.modules) - before",
            ),
            "models",
            "versions",
            "--help",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    imported = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert {m.split(".")[0] for m in imported} & _HEAVY == set()
    commands = {m for m in imported if m.startswith("mlops_kit.cli.")}
    shared = {f"mlops_kit.cli.{name}" for name in ("output", "options", "progress", "state")}
    assert commands - shared == {
        "mlops_kit.cli.commands",
        "mlops_kit.cli.models",
    }


def test_the_root_help_lists_each_command_with_its_own_help() -> None:
    # The listing comes from a table, so that --help imports no command module: it must say
    # what each command's own help says.
    import typer

    from mlops_kit.cli import app
    from mlops_kit.cli.commands import COMMANDS

    root = typer.main.get_command(app)
    assert isinstance(root, typer.core.TyperGroup)
    for name, entry in COMMANDS.items():
        command = root.commands[name]
        assert command.help is not None
        assert " ".join(command.help.split("\n\n")[0].split()) == entry.help, name
    assert list(root.commands) == list(COMMANDS)


def test_the_group_options_still_reach_the_command(project_dir: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    # The global options pass through as text: an override reaches the kit as given.
    bad = run_cli("--metadata", "nosuchscheme://x", "doctor")
    assert bad.exit_code != 0
    assert "nosuchscheme" in bad.stderr


def test_console_script_help_and_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mlops_kit", "--version"], check=True, capture_output=True, text=True
    )
    assert out.stdout.startswith("mlops-kit ")
