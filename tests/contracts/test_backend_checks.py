"""What a role's interface checks for every backend, shown on minimal backends that check nothing.

A backend (the kit's own, or another package's through an entry point) implements the protected
operations only; the public ones refuse malformed input before the backend sees it and verify what
it reports. These backends keep their objects and runs in memory and trust every argument.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlops_kit.artifacts import ArtifactStore, Digests, ListedObject, StoredObject
from mlops_kit.errors import ConfigError, ConflictError, IntegrityError, NotFoundError
from mlops_kit.orchestrators import (
    RUN_STATES,
    Orchestrator,
    PipelineRun,
    PipelineSubmission,
    RecurringRun,
    TaskEvent,
)
from mlops_kit.progress import Progress


class MemoryStore(ArtifactStore):
    """Objects in a dict; it would store anything under any key."""

    def __init__(self, uri: str = "memory://test") -> None:
        super().__init__(uri)
        self.objects: dict[str, bytes] = {}
        self.keys_seen: list[str] = []

    def check(self) -> str:
        return "memory"

    def stored_bytes(self, data: bytes) -> bytes:
        """What the store keeps of ``data`` (a faulty store keeps something else)."""
        return data

    def _write(
        self, source: Path, key: str, progress: Progress
    ) -> tuple[StoredObject, StoredObject]:
        self.keys_seen.append(key)
        data = source.read_bytes()
        self.objects[key] = self.stored_bytes(data)
        return _record(key, data), _record(key, self.objects[key])

    def _read(self, key: str, destination: Path) -> None:
        self.keys_seen.append(key)
        if key not in self.objects:
            raise NotFoundError(f"artifact {key} does not exist")
        destination.write_bytes(self.objects[key])

    def _exists(self, key: str) -> bool:
        self.keys_seen.append(key)
        return key in self.objects

    def _digests(self, key: str) -> StoredObject | None:
        self.keys_seen.append(key)
        return _record(key, self.objects[key]) if key in self.objects else None

    def _delete(self, key: str) -> None:
        self.keys_seen.append(key)
        self.objects.pop(key, None)

    def _object_uri(self, key: str) -> str:
        self.keys_seen.append(key)
        return f"{self.uri}/{key}"

    def list_objects(self, prefix: str = "") -> Iterator[ListedObject]:
        now = datetime.now(UTC)
        for key in sorted(self.objects):
            if key.startswith(prefix):
                yield ListedObject(key, len(self.objects[key]), now)


class TruncatingStore(MemoryStore):
    """Loses the last byte of what it writes, and says so in its account."""

    def stored_bytes(self, data: bytes) -> bytes:
        return data[:-1]


def _record(key: str, data: bytes) -> StoredObject:
    digests = Digests()
    digests.update(data)
    return digests.stored(key)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "model.bin"
    path.write_bytes(b"weights" * 100)
    return path


@pytest.mark.parametrize("key", ["../outside", "/etc/passwd", "a/../../b", "", "a//b"])
def test_a_store_that_checks_no_key_still_refuses_malformed_ones(
    source: Path, tmp_path: Path, key: str
) -> None:
    store = MemoryStore()
    calls = [
        lambda: store.write(source, key),
        lambda: store.read(key, tmp_path / "out.bin"),
        lambda: store.exists(key),
        lambda: store.verify(StoredObject(key, 1, "", "")),
        lambda: store.delete(key),
        lambda: store.object_uri(key),
        lambda: store.put(source, key),
    ]
    for call in calls:
        with pytest.raises(ConfigError, match="invalid artifact key"):
            call()
    assert store.keys_seen == [] and store.objects == {}


def test_a_store_that_checks_no_conflict_still_never_overwrites(
    source: Path, tmp_path: Path
) -> None:
    store = MemoryStore()
    first = store.write(source, "m/1/model.bin")
    other = tmp_path / "other.bin"
    other.write_bytes(b"other")
    with pytest.raises(ConflictError, match=r"memory://test/m/1/model\.bin already exists"):
        store.write(other, "m/1/model.bin")
    store.verify(first)  # the original is intact
    assert store.objects["m/1/model.bin"] == source.read_bytes()


def test_a_store_that_compares_no_checksum_still_reports_a_corrupt_write(source: Path) -> None:
    store = TruncatingStore()
    with pytest.raises(IntegrityError, match=r"checksum mismatch for memory://test/m/1/model\.bin"):
        store.write(source, "m/1/model.bin")


def test_verify_and_get_compare_what_a_store_reports_with_the_record(
    source: Path, tmp_path: Path
) -> None:
    store = MemoryStore()
    stored = store.write(source, "m/1/model.bin")
    store.objects[stored.key] = b"x" * stored.size  # corrupted at rest, same size
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        store.verify(stored)
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        store.get(stored, tmp_path / "out" / "model.bin")
    assert not (tmp_path / "out" / "model.bin").exists()
    store.delete(stored.key)
    with pytest.raises(IntegrityError, match="is missing"):
        store.verify(stored)


class PlatformRunner(Orchestrator):
    """Reports runs in a platform's own state names and schedules whatever it is given."""

    def __init__(self, uri: str = "platform://test") -> None:
        super().__init__(uri)
        self.crons: list[str] = []

    def check(self) -> str:
        return "platform"

    def _submit(self, submission: PipelineSubmission, on_task: TaskEvent | None) -> PipelineRun:
        return PipelineRun("run-1", submission.run_name, "QUEUED")

    def _schedule(
        self, submission: PipelineSubmission, cron: str, max_concurrency: int
    ) -> RecurringRun:
        self.crons.append(cron)
        return RecurringRun("schedule-1", submission.run_name, cron)

    def _poll(self, run_id: str, pipeline_root: str | None) -> PipelineRun:
        tasks = {"train": "NOT_TRIGGERED", "gate": "CANCELING", "push": "", "odd": "Exploded"}
        return PipelineRun(run_id, "nightly", "PIPELINE_STATE_SUCCEEDED", tasks=tasks)

    def _list_runs(
        self, limit: int, pipeline_root: str | None, name: str | None
    ) -> list[PipelineRun]:
        return [PipelineRun("run-2", "nightly", ""), PipelineRun("run-1", "nightly", "PAUSED")]


@pytest.mark.parametrize("cron", ["every monday", "61 * * * *", "*/0 * * * *", "0 3 * *"])
def test_an_orchestrator_that_checks_no_cron_still_refuses_a_malformed_one(
    cron: str, tmp_path: Path
) -> None:
    runner = PlatformRunner()
    with pytest.raises(ConfigError, match="malformed cron expression"):
        runner.schedule(PipelineSubmission(tmp_path / "p.yaml", {}, "nightly"), cron)
    assert runner.crons == []


def test_an_orchestrator_schedules_the_normalised_cron(tmp_path: Path) -> None:
    runner = PlatformRunner()
    created = runner.schedule(PipelineSubmission(tmp_path / "p.yaml", {}, "nightly"), " 0  3 * * 1")
    assert runner.crons == ["0 3 * * 1"] and created.cron == "0 3 * * 1"


def test_an_orchestrator_that_translates_no_state_still_reports_run_states(
    tmp_path: Path,
) -> None:
    runner = PlatformRunner()
    assert runner.submit(PipelineSubmission(tmp_path / "p.yaml", {}, "nightly")).state == "PENDING"
    polled = runner.poll("run-1")
    assert polled.state == "SUCCEEDED"
    assert dict(polled.tasks) == {
        "train": "SUCCEEDED",
        "gate": "CANCELLED",
        "push": "PENDING",
        "odd": "UNKNOWN",
    }
    assert [run.state for run in runner.list_runs()] == ["PENDING", "RUNNING"]
    assert {polled.state, *polled.tasks.values()} <= set(RUN_STATES)
