"""Fixtures shared by every test: network guards, a throwaway project, real PostgreSQL, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from hypothesis import settings

# Google libraries must never reach for the network or the developer's credentials: no metadata
# server, no gcloud configuration in HOME. Set before any Google module is imported.
os.environ["NO_GCE_CHECK"] = "true"
os.environ["GCE_METADATA_HOST"] = "127.0.0.1:9"
os.environ["GCE_METADATA_IP"] = "127.0.0.1:9"
os.environ["HOME"] = tempfile.mkdtemp(prefix="mlops-kit-home-")
os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
os.environ["COLUMNS"] = "200"
for _name in [
    n for n in os.environ if n.startswith("MLOPS_KIT_") and n != "MLOPS_KIT_TEST_POSTGRES"
]:
    del os.environ[_name]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Property-based tests draw the same examples on every CI run (a failure there reproduces
# locally with --hypothesis-profile=ci); on a developer machine they explore new ones. Their
# example counts are set per test, small enough for the suite's time budget.
settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if IN_CI else "dev")
POSTGRES_ADMIN_URL = os.environ.get(
    "MLOPS_KIT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


def reply_json(handler: BaseHTTPRequestHandler, body: object, status: int = 200) -> None:
    """Answer the request ``handler`` serves with ``body`` as JSON (loopback fakes of REST APIs)."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def require(available: bool, what: str) -> None:
    """Skip when ``what`` is unavailable on a developer machine; fail under ``CI=true``."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is not available, and CI=true forbids skipping this test")
    pytest.skip(f"{what} is not available")


@dataclass
class RenderedPage:
    """What headless Chromium made of a page: its DOM and the errors its console logged."""

    dom: str
    console_errors: list[str]


def render_in_chromium(page: Path, workdir: Path) -> RenderedPage:
    """Open ``page`` offline in headless Chromium (its profile under ``workdir``)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    require(chromium is not None, "headless Chromium (apt-get install chromium)")
    assert chromium is not None
    completed = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={workdir / 'chromium-profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    errors = [
        line
        for line in completed.stderr.splitlines()
        if "CONSOLE" in line and ("ERROR" in line or "Uncaught" in line)
    ]
    return RenderedPage(completed.stdout, errors)


def _postgres_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    return _postgres_reachable()


@pytest.fixture
def postgres_url(postgres_available: bool) -> Iterator[str]:
    """A PostgreSQL URL whose search path is a fresh schema, dropped after the test."""
    require(postgres_available, f"PostgreSQL at {POSTGRES_ADMIN_URL}")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The metadata URL of each supported database: SQLite, then the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh project directory (with ``mlops-kit.yaml``) as the current directory."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlops-kit.yaml").write_text("local_root: .mlops\n", encoding="utf-8")
    monkeypatch.chdir(project)
    return project


@pytest.fixture
def local_kit(project_dir: Path) -> Iterator[object]:
    """The local twin of :func:`project_dir`."""
    from mlops_kit.kit import Kit

    with Kit.open() as kit:
        yield kit


@dataclass
class CliResult:
    """What one in-process CLI invocation printed and returned."""

    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run ``mlops-kit ARGS...`` in this process, as the console script does."""
    from mlops_kit.cli import main

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


# The cloud twin's fixtures, for every test; gRPC trusts the twin's CA alone from the start.
from tests.cloud_twin.fixtures import (  # noqa: E402, F401
    cloud_twin,
    cloud_twin_session,
    twin_credentials,
    twin_credentials_session,
)
from tests.cloud_twin.googleapis import trust_twin_roots  # noqa: E402

trust_twin_roots()
