"""The ``cloud_twin`` fixture (imported by ``tests/conftest.py``, so every test can ask for it).

The fakes start once per session and worker; each test gets the twin with the Google clients'
variables set for it alone, its request logs cleared. A fake that cannot start skips the test on a
developer machine and fails it under ``CI=true``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cloud_twin.twin import CloudTwin, start_twin


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
