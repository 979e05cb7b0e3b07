"""The ``cloud_twin`` and ``twin_credentials`` fixtures (imported by ``tests/conftest.py``, so
every test can ask for them).

The fakes start once per session and worker; each test gets the twin with the Google clients'
variables set for it alone, its request logs cleared. A fake that cannot start skips the test on a
developer machine and fails it under ``CI=true``. A test with a fake of its own (a BigQuery of its
own data, say) takes only the twin's credentials, and names its fake's endpoint in the URI as a
user would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cloud_twin.oauth import TokenEndpoint
from tests.cloud_twin.twin import PROJECT, CloudTwin, runner_account, start_twin


@pytest.fixture(scope="session")
def cloud_twin_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudTwin]:
    """Every fake of the twin, started once for the session (per xdist worker)."""
    twin = start_twin(tmp_path_factory.mktemp("cloud-twin"))
    yield twin
    twin.stop()


@pytest.fixture
def cloud_twin(cloud_twin_session: CloudTwin, monkeypatch: pytest.MonkeyPatch) -> CloudTwin:
    """The cloud twin, with ``GOOGLE_APPLICATION_CREDENTIALS``, the emulator hosts and
    ``MLOPS_KIT_ENVIRONMENTS_DIR`` pointing at it for this test."""
    from tests.conftest import require  # tests/conftest.py imports this module

    for what, why in cloud_twin_session.failures.items():
        require(False, f"the cloud twin's {what} ({why})")
    for name, value in cloud_twin_session.environ().items():
        monkeypatch.setenv(name, value)
    cloud_twin_session.clear_requests()
    return cloud_twin_session


@pytest.fixture(scope="session")
def twin_credentials_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The twin's service account key file, its token endpoint on loopback (once per session)."""
    tokens = TokenEndpoint().start()
    path = tmp_path_factory.mktemp("twin-credentials") / "credentials.json"
    yield tokens.write_credentials(path, runner_account(), PROJECT)
    tokens.stop()


@pytest.fixture
def twin_credentials(twin_credentials_session: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The twin's key file as ``GOOGLE_APPLICATION_CREDENTIALS`` for this test (no other fake)."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(twin_credentials_session))
    return twin_credentials_session
