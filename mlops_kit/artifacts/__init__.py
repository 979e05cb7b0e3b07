"""The artifacts role: where model artifacts are stored.

Backends by scheme: ``file://`` (the local twin) and ``gs://BUCKET/PREFIX`` (Google Cloud Storage).

Every store is create-only: an object, once written under a key, is never overwritten, so a key that
names a model version names the same bytes forever. Objects are recorded with their size, SHA-256 and
MD5; reads verify them and a mismatch is a hard error.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import final

from mlops_kit.backends import Backend, SchemeRegistry
from mlops_kit.errors import (
    ConfigError,
    ConflictError,
    IntegrityError,
    MlopsKitError,
    NotFoundError,
    shorten,
)
from mlops_kit.progress import NO_PROGRESS, Progress

CHUNK_SIZE = 8 * 1024 * 1024
"""Bytes read or written at a time: large artifacts are streamed, never held in memory."""


@dataclass(frozen=True)
class StoredObject:
    """One object as written: its key and the checksums of its bytes."""

    key: str
    size: int
    sha256: str
    """Hex SHA-256 of the bytes, computed by the kit while reading the source."""
    md5: str
    """Hex MD5 of the bytes; Cloud Storage computes the same digest server-side."""


@dataclass(frozen=True)
class ListedObject:
    """An object found by :meth:`ArtifactStore.list_objects`."""

    key: str
    size: int
    updated: datetime


class Digests:
    """SHA-256, MD5 and size of a byte stream, fed chunk by chunk."""

    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def update(self, chunk: bytes) -> None:
        """Add ``chunk`` to the digests."""
        self._sha256.update(chunk)
        self._md5.update(chunk)
        self.size += len(chunk)

    def stored(self, key: str) -> StoredObject:
        """The record of an object under ``key`` with these digests."""
        return StoredObject(key, self.size, self._sha256.hexdigest(), self._md5.hexdigest())

    @classmethod
    def of_file(cls, path: Path) -> Digests:
        """The digests of the file at ``path``."""
        digests = cls()
        with path.open("rb") as stream:
            while chunk := stream.read(CHUNK_SIZE):
                digests.update(chunk)
        return digests


def check_key(key: str) -> str:
    """Return ``key`` if it is a relative POSIX path without ``.``/``..`` parts.

    Raises:
        ConfigError: the key is empty, absolute or escapes the store.
    """
    path = PurePosixPath(key)
    if not key or path.is_absolute() or any(part in ("", ".", "..") for part in key.split("/")):
        raise ConfigError(f"invalid artifact key {key!r}: use a relative path like 'name/1/model'")
    return key


def source_files(source: Path) -> list[tuple[Path, str]]:
    """The files to upload for ``source`` with their relative keys (a file's key is its name).

    Raises:
        NotFoundError: ``source`` does not exist.
        ConfigError: ``source`` is an empty directory, or holds something that is not a file.
    """
    if source.is_file():
        return [(source, source.name)]
    if not source.is_dir():
        raise NotFoundError(
            f"artifact path {str(source)!r} does not exist: give a file or directory"
        )
    files: list[tuple[Path, str]] = []
    root = source.resolve()
    # Symlinked folders are not descended into, and no link may lead out of the folder: a
    # registration must not upload files from elsewhere on the machine.
    for folder, folders, names in os.walk(source):
        for name in sorted([*folders, *names]):
            path = Path(folder) / name
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise ConfigError(
                    f"{path} is a symbolic link leading outside {source}: copy the file into "
                    "the folder instead"
                )
        for name in names:
            path = Path(folder) / name
            if not path.is_file():
                raise ConfigError(
                    f"{path} is not a regular file: artifacts hold files and directories"
                )
            files.append((path, path.relative_to(source).as_posix()))
    files.sort(key=lambda pair: pair[1])
    if not files:
        raise ConfigError(f"artifact directory {source} is empty: nothing to register")
    return files


class ArtifactStore(Backend):
    """A create-only object store for model artifacts, addressed by keys relative to its URI.

    The public operations are the same for every store and do what every store must: they refuse
    a malformed key (:func:`check_key`) before the backend sees it, refuse every change in a dry
    run (:meth:`~mlops_kit.backends.Backend.refuse_change`), refuse to write over an existing
    object, and compare checksums (:func:`check_digests`) after a write, on
    :meth:`verify` and on :meth:`get`. A backend implements the transfer behind them:
    :meth:`_write`, :meth:`_read`, :meth:`_exists`, :meth:`_digests`, :meth:`_delete` and
    :meth:`_object_uri` (which receive checked keys only), and :meth:`list_objects`.
    """

    @final
    def write(self, source: Path, key: str, progress: Progress = NO_PROGRESS) -> StoredObject:
        """Store the file ``source`` under ``key``, only if nothing is stored there yet.

        Large files are streamed (resumable uploads where the service has them). What the store
        holds afterwards is compared with what was read from ``source`` before this returns.

        Args:
            source: a local file.
            key: a relative key (see :func:`check_key`).
            progress: advanced by the bytes sent, as they go where the store can tell.

        Returns:
            The key, size and checksums of the stored bytes.

        Raises:
            ConfigError: ``key`` is malformed; nothing is sent.
            DryRunEnded: the kit is in a dry run; nothing is sent.
            ConflictError: an object already exists under ``key``; it is left untouched.
            IntegrityError: the stored bytes do not match the source.
            BackendError: the store failed or is unreachable; no object is left under ``key``
                where the service allows the kit to know it.
        """
        self.refuse_change(f"write {shorten(self.object_uri(key))} to the artifact store")
        # The backend's write is create-only by itself (a concurrent writer may get there
        # between the two calls); the lookup first refuses before any byte is sent.
        if self._exists(key):
            raise self.already_exists(key)
        sent, held = self._write(source, key, progress)
        check_digests(sent, held, self.object_uri(key))
        return sent

    @final
    def read(self, key: str, destination: Path) -> None:
        """Copy the object under ``key`` into the file ``destination`` (overwritten).

        :meth:`get` is the verified download; this is the bare transfer it uses.

        Raises:
            ConfigError: ``key`` is malformed.
            NotFoundError: no object is stored under ``key``.
            IntegrityError: the service's own transfer checksum failed.
            BackendError: the store failed or is unreachable.
        """
        self._read(check_key(key), destination)

    @final
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``.

        Raises:
            ConfigError: ``key`` is malformed.
        """
        return self._exists(check_key(key))

    @final
    def verify(self, expected: StoredObject) -> None:
        """Check, without downloading where the service allows it, that ``expected`` is intact.

        Raises:
            ConfigError: ``expected.key`` is malformed.
            IntegrityError: the object is missing, or its size or checksum differ from the record.
        """
        held = self._digests(check_key(expected.key))
        where = self.object_uri(expected.key)
        if held is None:
            raise IntegrityError(f"artifact {where} is missing: the version cannot be served")
        check_digests(expected, held, where)

    @final
    def delete(self, key: str) -> None:
        """Delete the object under ``key``; deleting a missing object is not an error.

        Raises:
            ConfigError: ``key`` is malformed.
            DryRunEnded: the kit is in a dry run; nothing is deleted.
        """
        self.refuse_change(f"remove {shorten(self.object_uri(key))} from the artifact store")
        self._delete(key)

    @final
    def object_uri(self, key: str) -> str:
        """The URI of ``key`` in this store (``file:///...`` or ``gs://bucket/...``).

        Raises:
            ConfigError: ``key`` is malformed.
        """
        return self._object_uri(check_key(key))

    def already_exists(self, key: str) -> ConflictError:
        """The error of a write to ``key`` that an existing object refuses.

        A backend raises it when its create-only write loses a race that :meth:`write`'s lookup
        could not see.
        """
        return ConflictError(f"artifact {self.object_uri(key)} already exists: it is immutable")

    @abstractmethod
    def _write(
        self, source: Path, key: str, progress: Progress
    ) -> tuple[StoredObject, StoredObject]:
        """Store ``source`` under the checked ``key``, create-only (nothing was there a moment ago).

        Returns:
            What the kit read from ``source`` (its size and both digests, see :class:`Digests`),
            and the store's own account of what it now holds: its size and the digests the store
            knows (a service's MD5; a store that hashed the very bytes it wrote returns the first
            record again). :meth:`write` compares the two.

        Raises:
            ConflictError: an object appeared under ``key`` meanwhile (:meth:`already_exists`).
            BackendError: the store failed or is unreachable.
        """

    @abstractmethod
    def _read(self, key: str, destination: Path) -> None:
        """Copy the object under the checked ``key`` into ``destination`` (see :meth:`read`)."""

    @abstractmethod
    def _exists(self, key: str) -> bool:
        """Whether an object is stored under the checked ``key``."""

    @abstractmethod
    def _digests(self, key: str) -> StoredObject | None:
        """The store's account of the object under the checked ``key``, ``None`` if there is none.

        Its size and the digests the store knows without a download where the service keeps them
        (Cloud Storage's MD5), else both digests of the bytes read back. :meth:`verify` compares
        them with the record.
        """

    @abstractmethod
    def _delete(self, key: str) -> None:
        """Delete the object under the checked ``key``; a missing object is not an error."""

    @abstractmethod
    def _object_uri(self, key: str) -> str:
        """The URI of the checked ``key`` in this store."""

    @abstractmethod
    def list_objects(self, prefix: str = "") -> Iterator[ListedObject]:
        """Every object whose key starts with ``prefix``, in key order.

        This includes what a store stages beside its keys while writing (the local store's
        ``.incoming-*`` files): a killed write leaves it, and the registry's gc must see it.
        """

    @final
    def put(
        self, source: Path, prefix: str, progress: Progress = NO_PROGRESS
    ) -> list[StoredObject]:
        """Store the file or directory ``source`` under ``prefix`` (create-only).

        A file is stored as ``prefix/<its name>``; a directory's files keep their relative paths.
        When one file fails, the files this call already wrote are deleted again (as far as the
        store is reachable), and objects that existed before are never touched. ``progress``
        counts the bytes stored.

        Raises:
            NotFoundError: ``source`` does not exist.
            ConflictError: an object already exists under one of the keys.
        """
        check_key(prefix)
        files = source_files(source)
        total = sum(path.stat().st_size for path, _ in files)
        progress.start(f"storing {prefix}", total=total, unit="bytes")
        written: list[StoredObject] = []
        try:
            for path, name in files:
                written.append(self.write(path, f"{prefix}/{name}", progress))
        except BaseException:
            self.delete_quietly([stored.key for stored in written])
            raise
        return written

    @final
    def delete_quietly(self, keys: list[str]) -> None:
        """Delete ``keys`` as far as the store allows: a cleanup must not hide the first error."""
        for key in keys:
            try:
                self.delete(key)
            except MlopsKitError:
                return  # the store is unreachable; the registry's gc removes the rest later

    @final
    def get(self, expected: StoredObject, destination: Path) -> None:
        """Download ``expected.key`` to ``destination`` and verify size and SHA-256.

        The bytes land in a temporary file next to ``destination`` and are renamed only once
        verified, so a failed download never leaves a corrupt file behind.

        Raises:
            NotFoundError: the object is missing.
            IntegrityError: size or checksum differ from the record.
        """
        destination.parent.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.")
        os.close(descriptor)
        temporary = Path(name)
        try:
            self.read(expected.key, temporary)
            actual = Digests.of_file(temporary).stored(expected.key)
            check_digests(expected, actual, self.object_uri(expected.key))
            temporary.replace(destination)
        finally:
            temporary.unlink(missing_ok=True)


def check_digests(expected: StoredObject, actual: StoredObject, where: str) -> None:
    """Raise :class:`IntegrityError` unless ``actual`` has the size and checksum of ``expected``.

    The checksum compared is the strongest ``actual`` carries: SHA-256 where the kit computed it
    from the bytes, else the MD5 a service reports (an empty MD5, as of a composite Cloud Storage
    object, matches nothing).
    """
    digest = "sha256" if actual.sha256 else "md5"
    if (actual.size, getattr(actual, digest)) != (expected.size, getattr(expected, digest)):
        raise IntegrityError(
            f"checksum mismatch for {where}: expected {digest} {getattr(expected, digest)} "
            f"({expected.size} bytes), got {getattr(actual, digest)} ({actual.size} bytes); "
            "the stored artifact is corrupt, do not use it"
        )


ARTIFACT_STORES: SchemeRegistry[ArtifactStore] = SchemeRegistry("artifacts", ArtifactStore)
ARTIFACT_STORES.register(["file"], "mlops_kit.artifacts.local:LocalArtifactStore")
ARTIFACT_STORES.register(["gs"], "mlops_kit.artifacts.gcs:GcsArtifactStore")
