"""The local twin's artifact store: a directory, ``file:///absolute/path``.

A write goes to a temporary file in the target directory, is fsynced, then linked into place:
``os.link`` fails if the name exists, which makes the write create-only and atomic (a reader sees
the whole file or nothing) even between processes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from typing_extensions import override

from mlops_kit.artifacts import (
    CHUNK_SIZE,
    ArtifactStore,
    Digests,
    ListedObject,
    StoredObject,
    check_key,
)
from mlops_kit.errors import BackendError, ConfigError, NotFoundError
from mlops_kit.files import free_space, write_failed
from mlops_kit.progress import Progress

_TEMPORARY_PREFIX = ".incoming-"
"""Names of the files a write stages next to its target; a killed process leaves them behind."""


class LocalArtifactStore(ArtifactStore):
    """Artifacts under a local directory."""

    runs_here = True

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ConfigError(f"malformed file URI {uri!r}: use 'file:///absolute/path'")
        self.root = Path(unquote(parts.path))

    def path_of(self, key: str) -> Path:
        """The file that holds ``key``.

        Raises:
            ConfigError: ``key`` is malformed (see :func:`~mlops_kit.artifacts.check_key`).
        """
        return self.root / check_key(key)

    @override
    def check(self) -> str:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".doctor-"):
                pass
        except OSError as exc:
            raise BackendError(
                f"artifact directory {self.root} is not writable: {exc.strerror or exc}"
            ) from exc
        return f"directory {self.root} ({free_space(self.root)} free)"

    @override
    def _write(
        self, source: Path, key: str, progress: Progress
    ) -> tuple[StoredObject, StoredObject]:
        target = self.root / key
        digests = Digests()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with (
                source.open("rb") as reader,
                tempfile.NamedTemporaryFile(dir=target.parent, prefix=_TEMPORARY_PREFIX) as writer,
                ThreadPoolExecutor(max_workers=1) as hasher,
            ):
                # Hashing a chunk (hashlib releases the GIL) overlaps writing it: hashing is about
                # half the cost of storing a large artifact.
                hashed: Future[None] | None = None
                while chunk := reader.read(CHUNK_SIZE):
                    if hashed is not None:
                        hashed.result()
                    hashed = hasher.submit(digests.update, chunk)
                    writer.write(chunk)
                    progress.advance(len(chunk))
                if hashed is not None:
                    hashed.result()
                writer.flush()
                os.fsync(writer.fileno())
                try:
                    os.link(writer.name, target)
                except FileExistsError as exc:
                    raise self.already_exists(key) from exc
            _fsync_directory(target.parent)
        except OSError as exc:
            raise write_failed(f"artifact {key!r}", target.parent, exc) from exc
        # The bytes hashed are the bytes written: the store's account of them is the same.
        stored = digests.stored(key)
        return stored, stored

    @override
    def _read(self, key: str, destination: Path) -> None:
        try:
            shutil.copyfile(self.root / key, destination)
        except FileNotFoundError as exc:
            raise NotFoundError(f"artifact {self.object_uri(key)} does not exist") from exc
        except OSError as exc:
            raise BackendError(
                f"cannot read artifact {self.object_uri(key)}: {exc.strerror or exc}"
            ) from exc

    @override
    def _exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    @override
    def _digests(self, key: str) -> StoredObject | None:
        path = self.root / key
        return Digests.of_file(path).stored(key) if path.is_file() else None

    @override
    def list_objects(self, prefix: str = "") -> Iterator[ListedObject]:
        if not self.root.is_dir():
            return
        # Staged files (``.incoming-*``) are listed too: a write killed before it renamed one
        # leaves it behind, and only a listing lets the registry's gc find and remove it.
        for path in sorted(self.root.rglob("*")):
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix) and path.is_file():
                stats = path.stat()
                updated = datetime.fromtimestamp(stats.st_mtime, UTC)
                yield ListedObject(key, stats.st_size, updated)

    @override
    def _delete(self, key: str) -> None:
        path = self.root / key
        path.unlink(missing_ok=True)
        # A version's folder goes with its last file, so gc leaves nothing under a removed version.
        # The top-level folder stays: a write creating its first version folder may be under way.
        for folder in path.parents:
            if folder.parent == self.root or folder == self.root:
                break
            try:
                folder.rmdir()
            except OSError:
                break

    @override
    def _object_uri(self, key: str) -> str:
        return (self.root / key).as_uri()


def _fsync_directory(path: Path) -> None:
    # The new directory entry must survive a crash as well as the file's bytes.
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
