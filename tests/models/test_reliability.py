"""Reliability on real services: concurrent registrations on PostgreSQL, broken uploads, gc."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mlops_kit import models
from mlops_kit.db import migrate
from mlops_kit.db.models import utcnow
from mlops_kit.db.models.registry import ModelVersionRow, RegisteredModel
from mlops_kit.environments import Environment
from mlops_kit.errors import BackendError
from mlops_kit.kit import Kit
from tests.cloud_twin.sockets import TcpServer
from tests.faults import run_killed
from tests.models.conftest import GcsEmulator, write_bytes

ROOT = Path(__file__).parents[2]

WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from mlops_kit import models
    from mlops_kit.environments import Environment
    from mlops_kit.kit import Kit

    url, artifacts, source, worker, gate = sys.argv[1:]
    environment = Environment(
        name="ci", warehouse="duckdb:///unused.duckdb", artifacts=artifacts, metadata=url,
        orchestrator="kfp-local",
    )
    with Kit(environment) as kit:
        kit.metadata.engine.connect().close()
        Path(gate, f"ready-{worker}").touch()
        while not Path(gate, "go").exists():  # all four start registering at once
            time.sleep(0.01)
        for _ in range(8):
            lineage = models.Lineage(tags={"worker": worker}, packages={})
            models.register(kit, "shared", Path(source), lineage=lineage)
    """
)


def _kit(metadata: str, artifacts: str) -> Kit:
    return Kit(
        Environment(
            name="ci",
            warehouse="duckdb:///unused.duckdb",
            artifacts=artifacts,
            metadata=metadata,
            orchestrator="kfp-local",
        )
    )


@pytest.mark.postgres
@pytest.mark.slow
def test_32_concurrent_registrations_from_4_processes_are_gap_free(
    postgres_url: str, tmp_path: Path
) -> None:
    import time

    gate = tmp_path / "gate"
    gate.mkdir()
    artifacts = (tmp_path / "artifacts").as_uri()
    kit = _kit(postgres_url, artifacts)
    migrate.upgrade(kit.metadata)
    source = write_bytes(tmp_path / "model.bin", 2048)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, postgres_url, artifacts, str(source), str(n), str(gate)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        )
        for n in range(4)
    ]
    deadline = time.monotonic() + 120
    while len(list(gate.glob("ready-*"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    (gate / "go").touch()
    outcomes = [worker.communicate(timeout=240) for worker in workers]
    for worker, (_, stderr) in zip(workers, outcomes, strict=True):
        assert worker.returncode == 0, stderr[-3000:]

    found = models.list_versions(kit, "shared", include_unready=True)
    assert sorted(v.version for v in found) == list(range(1, 33))
    assert {v.status for v in found} == {"ready"}
    by_worker: dict[str, int] = {}
    for summary in found:
        version = models.get_version(kit, summary.ref)
        by_worker[version.tags["worker"]] = by_worker.get(version.tags["worker"], 0) + 1
        assert version.files[0]["key"] == f"shared/{version.version}/model.bin"
    assert by_worker == {"0": 8, "1": 8, "2": 8, "3": 8}
    assert len(list(kit.artifacts.list_objects("shared/"))) == 32
    kit.close()


class BreakingProxy:
    """A loopback TCP proxy that breaks once ``limit`` request bytes went through.

    ``cut``: it closes every connection and refuses new ones, like a server that went away
    mid-upload. ``stall``: it stops forwarding and holds the connections open, so the uploading
    process hangs (and can be killed mid-upload).
    """

    def __init__(self, upstream_port: int, limit: int, mode: str = "cut") -> None:
        self.upstream_port = upstream_port
        self.limit = limit
        self.mode = mode
        self.sent = 0
        self.server = TcpServer(("127.0.0.1", 0), self._forward)
        self.broken = self.server.stopping
        """Set once the limit is reached."""
        self.port = self.server.port
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.server.start()

    def _forward(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        with self.lock:
            self.sockets += [client, upstream]
        threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
        self._pump(client, upstream, True)

    def _pump(self, source: socket.socket, target: socket.socket, counted: bool) -> None:
        try:
            while data := source.recv(65536):
                if counted:
                    with self.lock:
                        self.sent += len(data)
                        cut = self.sent > self.limit
                    if cut and self.mode == "stall":
                        self.broken.set()
                        threading.Event().wait()  # hold the connection, forward nothing
                    if cut:
                        self.cut()
                        return
                target.sendall(data)
        except OSError:
            return

    def cut(self) -> None:
        self.server.stop()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


@pytest.mark.gcs
def test_an_upload_that_breaks_leaves_no_ready_version_and_gc_cleans_up(
    private_gcs_emulator: GcsEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = private_gcs_emulator.create_bucket()
    metadata = f"sqlite:///{tmp_path / 'metadata.db'}"
    source = tmp_path / "model"
    write_bytes(source / "a-config.json", 1024, seed=1)
    write_bytes(source / "b-weights.bin", 20 * 1024 * 1024, seed=2)  # resumable, 3 chunks

    proxy = BreakingProxy(private_gcs_emulator.port, limit=12 * 1024 * 1024)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{proxy.port}")
    broken = _kit(metadata, f"gs://{bucket}/models")
    migrate.upgrade(broken.metadata)
    broken.artifacts.retry_timeout = 1.0  # type: ignore[attr-defined]
    with pytest.raises(BackendError, match="cannot upload gs://"):
        models.register(broken, "clf", source, lineage=models.Lineage(packages={}))
    assert proxy.broken.is_set()

    (failed,) = models.list_versions(broken, "clf", include_unready=True)
    assert failed.status == "failed"
    assert models.list_versions(broken, "clf") == []
    broken.close()

    # The service is back; the first file got in before the cut, and its cleanup could not run.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", private_gcs_emulator.url)
    kit = _kit(metadata, f"gs://{bucket}/models")
    assert [o.key for o in kit.artifacts.list_objects()] == ["clf/1/a-config.json"]
    kept = models.register(
        kit, "clf", source / "a-config.json", lineage=models.Lineage(packages={})
    )
    assert kept.version == 2
    report = models.collect_garbage(kit, grace=timedelta(hours=1))
    assert report.removed_objects == ["clf/1/a-config.json"]
    assert [o.key for o in kit.artifacts.list_objects()] == ["clf/2/a-config.json"]
    kit.close()


def _pending(kit: Kit, name: str, version: int, age: timedelta) -> None:
    """A pending row as a registration that died mid-upload leaves it."""
    with kit.metadata.session() as session:
        model = session.scalars(select(RegisteredModel).where(RegisteredModel.name == name)).one()
        model.last_version = max(model.last_version, version)
        session.add(
            ModelVersionRow(
                model_id=model.id,
                version=version,
                status="pending",
                artifact_uri="-",
                created_at=utcnow() - age,
            )
        )


def test_gc_removes_stale_pending_versions_and_orphans_never_a_referenced_object(
    kit: Any, tmp_path: Path
) -> None:
    ready = models.register(
        kit, "clf", write_bytes(tmp_path / "m.bin", 10), lineage=models.Lineage(packages={})
    )
    models.promote(kit, "clf@1", "prod", "first")
    store = kit.artifacts
    _pending(kit, "clf", 2, age=timedelta(hours=30))  # died yesterday
    store.put(write_bytes(tmp_path / "half.bin", 10), "clf/2")
    _pending(kit, "clf", 3, age=timedelta(minutes=5))  # still uploading
    store.put(write_bytes(tmp_path / "inflight.bin", 10), "clf/3")
    store.put(write_bytes(tmp_path / "stray.bin", 10), "clf/1")  # not part of version 1
    store.put(write_bytes(tmp_path / "other.bin", 10), "notes/1")  # not a registry object

    dry = models.collect_garbage(kit, dry_run=True)
    assert dry.removed_versions == ["clf@2"]
    assert sorted(dry.removed_objects) == ["clf/1/stray.bin", "clf/2/half.bin"]
    assert len(list(store.list_objects())) == 5  # a dry run removes nothing

    report = models.collect_garbage(kit)
    assert (report.removed_versions, sorted(report.removed_objects)) == (
        ["clf@2"],
        ["clf/1/stray.bin", "clf/2/half.bin"],
    )
    assert sorted(o.key for o in store.list_objects()) == [
        "clf/1/m.bin",
        "clf/3/inflight.bin",
        "notes/1/other.bin",
    ]
    assert [v.status for v in models.list_versions(kit, "clf", include_unready=True)] == [
        "pending",
        "ready",
    ]
    models.download(kit, "clf@prod", tmp_path / "out")  # the referenced version is intact
    assert ready.version == 1
    # Numbers are never reused, even after gc deleted a row.
    assert (
        models.register(kit, "clf", tmp_path / "m.bin", lineage=models.Lineage(packages={})).version
        == 4
    )


CRASHING_WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from mlops_kit import models
    from mlops_kit.environments import Environment
    from mlops_kit.kit import Kit

    metadata, artifacts, source, *crash = sys.argv[1:]
    if crash:
        from tests.faults import crash_at
        crash_at(crash[0])
    environment = Environment(
        name="ci", warehouse="duckdb:///unused.duckdb", artifacts=artifacts, metadata=metadata,
        orchestrator="kfp-local",
    )
    with Kit(environment) as kit:
        models.register(kit, "clf", Path(source), lineage=models.Lineage(packages={}))
    """
)


@pytest.mark.gcs
@pytest.mark.slow
def test_a_process_killed_mid_upload_leaves_a_pending_version_that_gc_removes(
    private_gcs_emulator: GcsEmulator, tmp_path: Path
) -> None:
    import os
    import signal
    import time

    bucket = private_gcs_emulator.create_bucket()
    metadata = f"sqlite:///{tmp_path / 'metadata.db'}"
    artifacts = f"gs://{bucket}/models"
    kit = _kit(metadata, artifacts)
    migrate.upgrade(kit.metadata)
    source = tmp_path / "model"
    write_bytes(source / "a-config.json", 1024, seed=1)
    write_bytes(source / "b-weights.bin", 20 * 1024 * 1024, seed=2)
    proxy = BreakingProxy(private_gcs_emulator.port, limit=12 * 1024 * 1024, mode="stall")
    worker = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WORKER, metadata, artifacts, str(source)],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        env={
            "PYTHONPATH": str(ROOT),
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{proxy.port}",
            "NO_GCE_CHECK": "true",
        },
    )
    try:
        assert proxy.broken.wait(timeout=120), "the upload never reached the proxy's limit"
        os.kill(worker.pid, signal.SIGKILL)  # dies mid-upload: no chance to mark anything
    finally:
        worker.kill()
        worker.wait()
    assert worker.returncode == -signal.SIGKILL

    (pending,) = models.list_versions(kit, "clf", include_unready=True)
    assert pending.status == "pending"
    assert models.list_versions(kit, "clf") == []
    assert [o.key for o in kit.artifacts.list_objects()] == ["clf/1/a-config.json"]

    kept = models.collect_garbage(kit)  # within the grace period the upload may still be running
    assert (kept.removed_versions, kept.removed_objects, kept.kept_objects) == ([], [], 1)
    time.sleep(0.01)
    report = models.collect_garbage(kit, grace=timedelta(0))
    assert report.removed_versions == ["clf@1"]
    assert report.removed_objects == ["clf/1/a-config.json"]
    assert list(kit.artifacts.list_objects()) == []
    assert models.list_versions(kit, "clf", include_unready=True) == []
    kit.close()


@pytest.mark.parametrize(
    ("crash_at", "left"),
    [
        # The bytes are written to the staged file, not yet linked under their key.
        ("os:fsync", r"clf/2/\.incoming-\w+"),
        # The staged file is linked under its key; the version is never marked ready.
        ("mlops_kit.artifacts.local:_fsync_directory", r"clf/2/model\.bin"),
    ],
)
def test_gc_removes_what_a_registration_killed_mid_upload_left_in_the_local_store(
    local_kit: Any, tmp_path: Path, run_cli: Any, crash_at: str, left: str
) -> None:
    import re

    kit = local_kit
    models.register(kit, "clf", write_bytes(tmp_path / "m.bin", 10), lineage=models.Lineage())
    source = write_bytes(tmp_path / "model" / "model.bin", 3 * 1024 * 1024, seed=3)
    environment = kit.environment
    run_killed(
        CRASHING_WORKER,
        environment.metadata,
        environment.artifacts,
        str(source),
        crash_at,
        cwd=Path.cwd(),
    )
    listed = [o.key for o in kit.artifacts.list_objects()]
    assert listed[0] == "clf/1/m.bin" and len(listed) == 2
    assert re.fullmatch(left, listed[1]), listed

    # Within the grace period the upload may still be running: nothing goes.
    kept = models.collect_garbage(kit)
    assert (kept.removed_versions, kept.removed_objects, kept.kept_objects) == ([], [], 2)
    dry = run_cli("models", "gc", "--dry-run", "--grace-hours", "0", "--format", "json")
    assert dry.exit_code == 0, dry.stderr
    assert json.loads(dry.stdout) == {
        "removed_versions": ["clf@2"],
        "removed_objects": [listed[1]],
        "kept_objects": 1,
        "dry_run": True,
    }
    assert [o.key for o in kit.artifacts.list_objects()] == listed  # a dry run removes nothing

    report = models.collect_garbage(kit, now=utcnow() + timedelta(hours=25))
    assert (report.removed_versions, report.removed_objects) == (["clf@2"], [listed[1]])
    assert [o.key for o in kit.artifacts.list_objects()] == ["clf/1/m.bin"]
    assert not (kit.artifacts.root / "clf" / "2").exists()  # nothing left under the version
    assert [v.version for v in models.list_versions(kit, "clf", include_unready=True)] == [1]
    assert models.register(kit, "clf", source.parent, lineage=models.Lineage()).version == 3


def test_a_full_artifact_disk_is_one_line_and_leaves_no_version_and_no_partial_file(
    local_kit: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    kit = local_kit
    source = write_bytes(tmp_path / "model.bin", 1024)

    def disk_full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("mlops_kit.artifacts.local.os.fsync", disk_full)
    with pytest.raises(BackendError, match=r"the disk holding '.*/clf/1' is full \([0-9.]+ [MG]iB"):
        models.register(kit, "clf", source, lineage=models.Lineage())
    monkeypatch.undo()
    (failed,) = models.list_versions(kit, "clf", include_unready=True)
    assert failed.status == "failed"
    assert list(kit.artifacts.list_objects()) == []


@pytest.mark.parametrize("down", ["503", "refused"])
def test_registering_to_a_storage_service_that_is_down_gives_up_at_the_stated_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, down: str
) -> None:
    from mlops_kit.gcp import RETRY_DEADLINE
    from tests.cloud_twin.http import LoopbackServer

    def unavailable(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if method == "GET":  # the object does not exist yet: the upload is what fails
            return 404, {"error": {"code": 404, "message": "No such object"}}
        return 503, {"error": {"code": 503, "message": "Service Unavailable"}}

    server = LoopbackServer(unavailable).start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
    if down == "refused":
        server.stop()  # nothing listens any more: every connection is refused
    kit = _kit(f"sqlite:///{tmp_path / 'metadata.db'}", "gs://models/prefix")
    migrate.upgrade(kit.metadata)
    assert kit.artifacts.retry_timeout == RETRY_DEADLINE == 30  # not the library's 120 s
    kit.artifacts.retry_timeout = 0.5  # type: ignore[attr-defined]
    last = "HTTP 503" if down == "503" else "Connection refused"
    with pytest.raises(BackendError, match=f"gave up after retrying for 0.5 s .*{last}"):
        models.register(kit, "clf", write_bytes(tmp_path / "m.bin", 64), lineage=models.Lineage())
    (failed,) = models.list_versions(kit, "clf", include_unready=True)
    assert failed.status == "failed"
    if down == "503":
        server.stop()
    kit.close()


def _race(work: Any, count: int) -> list[Any]:
    """Run ``work(i)`` for ``i < count`` in threads released at once; their results or errors."""
    from concurrent.futures import ThreadPoolExecutor

    start = threading.Barrier(count)

    def run(i: int) -> Any:
        start.wait()
        try:
            return work(i)
        except Exception as exc:  # the outcome, error or not, is what the test checks
            return exc

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_concurrent_promotions_of_one_alias_form_one_unbroken_history(
    kit: Any, tmp_path: Path
) -> None:
    artifact = write_bytes(tmp_path / "m.bin", 10)
    for _ in range(6):
        models.register(kit, "clf", artifact, lineage=models.Lineage())

    def promote(i: int) -> Any:
        with Kit(kit.environment) as own:
            return models.promote(own, f"clf@{i + 1}", "prod", f"race {i}")

    outcomes = _race(promote, 6)
    assert [type(o).__name__ for o in outcomes] == ["AliasEvent"] * 6
    chain = models.history(kit, "clf", "prod")  # in the order the moves were committed
    assert sorted(e.to_version for e in chain) == [1, 2, 3, 4, 5, 6]
    # Each promotion saw the one before it: no move was lost or based on a stale holder.
    assert [e.from_version for e in chain] == [None] + [e.to_version for e in chain[:-1]]
    assert models.get_version(kit, "clf@prod").version == chain[-1].to_version


def test_registrations_while_gc_runs_never_lose_a_ready_versions_files(
    kit: Any, tmp_path: Path
) -> None:
    from mlops_kit.errors import ConflictError

    sources = [write_bytes(tmp_path / f"m{i}" / "model.bin", 4096, seed=i) for i in range(4)]

    passes = 8

    def register_until_done(own: Kit, name: str, source: Path) -> list[str]:
        # A registration either completes, or is told that gc removed its pending version and
        # is run again, as a user would; each gc pass removes one pending version at most.
        refused = []
        for _ in range(passes + 1):
            try:
                models.register(own, name, source.parent, lineage=models.Lineage())
                return refused
            except ConflictError as exc:
                refused.append(str(exc))
        raise AssertionError(f"{name} refused more often than gc ran: {refused}")

    def work(i: int) -> Any:
        with Kit(kit.environment) as own:
            if i == 0:  # the most eager gc: a pending version is stale at once
                return [models.collect_garbage(own, grace=timedelta(0)) for _ in range(passes)]
            return [m for source in sources for m in register_until_done(own, f"clf{i}", source)]

    outcomes = _race(work, 4)
    assert not any(isinstance(o, Exception) for o in outcomes), outcomes
    for refused in outcomes[1:]:
        assert all("removed by `models gc` while uploading" in m for m in refused), refused
    ready = [v for i in (1, 2, 3) for v in models.list_versions(kit, f"clf{i}")]
    assert len(ready) == 3 * len(sources)
    for summary in ready:
        version = models.get_version(kit, summary.ref)
        for stored in version.stored_objects():
            kit.artifacts.verify(stored)  # present, with its recorded size and checksum
    models.collect_garbage(kit, grace=timedelta(0))
    keys = {o.key for o in kit.artifacts.list_objects()}
    assert keys == {f["key"] for v in ready for f in models.get_version(kit, v.ref).files}


def test_a_version_gc_removed_mid_upload_never_completes_another_versions_row(
    kit: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite gives a deleted row's id to the next row: the upload must not finish that one."""
    from concurrent.futures import ThreadPoolExecutor

    from mlops_kit.errors import ConflictError

    artifact = write_bytes(tmp_path / "m.bin", 64)
    store = type(kit.artifacts)
    put = store.put
    uploaded, other_pending = threading.Event(), threading.Event()

    def interleaved(self: Any, source: Path, prefix: str, *progress: Any) -> Any:
        stored = put(self, source, prefix, *progress)
        if prefix == "clf/1":  # uploaded; gc and another registration run before it finishes
            uploaded.set()
            assert other_pending.wait(timeout=60)
        else:  # "other" is pending, in the id gc freed, until clf@1 has tried to finish
            other_pending.set()
            assert clf.done() or clf.exception(timeout=60) is not None
        return stored

    monkeypatch.setattr(store, "put", interleaved)
    with ThreadPoolExecutor(2) as pool:
        clf = pool.submit(models.register, kit, "clf", artifact, lineage=models.Lineage())
        assert uploaded.wait(timeout=60)
        assert models.collect_garbage(kit, grace=timedelta(0)).removed_versions == ["clf@1"]
        other = pool.submit(models.register, kit, "other", artifact, lineage=models.Lineage())
        with pytest.raises(ConflictError, match="clf@1 was removed by `models gc` while uploading"):
            clf.result(timeout=60)
        assert other.result(timeout=60).status == "ready"
    (version,) = models.list_versions(kit, "other")
    assert [f["key"] for f in models.get_version(kit, version.ref).files] == ["other/1/m.bin"]
    assert models.list_versions(kit, "clf", include_unready=True) == []
    assert [o.key for o in kit.artifacts.list_objects()] == ["other/1/m.bin"]
