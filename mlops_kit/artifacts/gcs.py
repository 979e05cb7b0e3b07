"""Artifacts in Google Cloud Storage, ``gs://BUCKET/PREFIX``; google-cloud-storage loads on first use.

Writes are create-only through the precondition ``if_generation_match=0`` (the service refuses the
write with 412 when the object exists, atomically). Files above :data:`RESUMABLE_THRESHOLD` go up as
resumable uploads in :data:`~mlops_kit.artifacts.CHUNK_SIZE` chunks, so a broken connection costs one
chunk, not the file. After an upload the object's MD5, computed by the service, must equal the one the
kit computed while reading the file; downloads are checked by the client (MD5) and then by the kit
(SHA-256).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from typing_extensions import override

from mlops_kit.artifacts import (
    CHUNK_SIZE,
    ArtifactStore,
    Digests,
    ListedObject,
    StoredObject,
)
from mlops_kit.errors import BackendError, ConfigError, IntegrityError, NotFoundError
from mlops_kit.gcp import google_error, import_google_sdk, retry_deadline
from mlops_kit.progress import Progress

RESUMABLE_THRESHOLD = 16 * 1024 * 1024
"""Files larger than this are uploaded in resumable chunks."""


class GcsArtifactStore(ArtifactStore):
    """Artifacts under a prefix of a GCS bucket."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        parts = urlsplit(uri)
        if not parts.netloc:
            raise ConfigError(f"malformed GCS URI {uri!r}: use 'gs://BUCKET/PREFIX'")
        self.bucket_name = parts.netloc
        self.prefix = parts.path.strip("/")
        self.retry_timeout = retry_deadline()
        """Seconds during which a call retries transient failures before it gives up (each
        request still has its own, longer timeout for large chunks)."""

    def retry(self) -> Any:
        """The retry policy of every call: the library's default, bounded by :attr:`retry_timeout`."""
        from google.cloud.storage.retry import DEFAULT_RETRY

        return DEFAULT_RETRY.with_timeout(self.retry_timeout)

    def client(self) -> Any:
        """A storage client (honours ``STORAGE_EMULATOR_HOST``)."""
        storage = import_google_sdk(
            "google.cloud.storage", package="google-cloud-storage", purpose="the GCS artifact store"
        )
        return storage.Client()

    @cached_property
    def bucket(self) -> Any:
        """The bucket, without a request (its existence is checked by :meth:`check`)."""
        return self.client().bucket(self.bucket_name)

    def object_name(self, key: str) -> str:
        """The object name of ``key`` (a key :class:`ArtifactStore` checked) in the bucket."""
        return f"{self.prefix}/{key}" if self.prefix else key

    @override
    def check(self) -> str:
        client = self.client()
        try:
            bucket = client.get_bucket(self.bucket_name)
        except Exception as exc:
            raise self.error(f"cannot reach bucket gs://{self.bucket_name}", exc) from exc
        # Reading the bucket's metadata needs fewer permissions than writing a model: write (and
        # delete) one small object where versions go.
        probe = bucket.blob(self.object_name(f"doctor-probe-{uuid.uuid4().hex}"))
        try:
            probe.upload_from_string(b"", if_generation_match=0)
            probe.delete()
        except Exception as exc:
            raise self.error(f"cannot write to gs://{self.bucket_name}/{self.prefix}", exc) from exc
        return (
            f"bucket gs://{bucket.name} ({bucket.location}), prefix {self.prefix or '/'}, writable"
        )

    def error(self, what: str, exc: Exception) -> BackendError:
        """The one-line error of a failed call (see :func:`~mlops_kit.gcp.google_error`)."""
        return google_error(
            what, exc, service="Cloud Storage", endpoint=self.endpoint, deadline=self.retry_timeout
        )

    def endpoint(self) -> str:
        """Where the client sends its requests (``STORAGE_EMULATOR_HOST`` or Google's)."""
        return str(self.bucket.client.api_endpoint)

    @override
    def _write(
        self, source: Path, key: str, progress: Progress
    ) -> tuple[StoredObject, StoredObject]:
        from google.api_core import exceptions as google_errors

        digests = Digests.of_file(source)
        blob = self.bucket.blob(self.object_name(key))
        if digests.size > RESUMABLE_THRESHOLD:
            blob.chunk_size = CHUNK_SIZE
        try:
            # The precondition makes the write create-only on the service, atomically.
            blob.upload_from_filename(
                str(source),
                if_generation_match=0,
                checksum="md5",
                timeout=120,
                retry=self.retry(),
            )
        except google_errors.PreconditionFailed as exc:
            raise self.already_exists(key) from exc
        except Exception as exc:
            raise self.error(f"cannot upload {self.object_uri(key)}", exc) from exc
        progress.advance(digests.size)  # the client reports nothing while it uploads
        return digests.stored(key), self._held(key, blob)

    @override
    def _read(self, key: str, destination: Path) -> None:
        from google.api_core import exceptions as google_errors

        blob = self.bucket.blob(self.object_name(key))
        try:
            blob.download_to_filename(
                str(destination), checksum="md5", timeout=120, retry=self.retry()
            )
        except google_errors.NotFound as exc:
            raise NotFoundError(f"artifact {self.object_uri(key)} does not exist") from exc
        except Exception as exc:
            if type(exc).__name__ == "DataCorruption":
                raise IntegrityError(
                    f"download of {self.object_uri(key)} failed its MD5 check: retry, and if it "
                    "persists the stored object is corrupt"
                ) from exc
            raise self.error(f"cannot download {self.object_uri(key)}", exc) from exc

    @override
    def _exists(self, key: str) -> bool:
        try:
            return bool(self.bucket.blob(self.object_name(key)).exists(retry=self.retry()))
        except Exception as exc:
            raise self.error(f"cannot look up {self.object_uri(key)}", exc) from exc

    @override
    def _digests(self, key: str) -> StoredObject | None:
        try:
            blob = self.bucket.get_blob(self.object_name(key), retry=self.retry())
        except Exception as exc:
            raise self.error(f"cannot look up {self.object_uri(key)}", exc) from exc
        return None if blob is None else self._held(key, blob)

    @staticmethod
    def _held(key: str, blob: Any) -> StoredObject:
        """The size and MD5 that Cloud Storage reports for ``blob`` (it computes no SHA-256)."""
        encoded = blob.md5_hash
        md5 = base64.b64decode(encoded).hex() if encoded else ""
        return StoredObject(key, int(blob.size or 0), "", md5)

    @override
    def list_objects(self, prefix: str = "") -> Iterator[ListedObject]:
        base = f"{self.prefix}/" if self.prefix else ""
        try:
            for blob in self.client().list_blobs(
                self.bucket_name, prefix=base + prefix, retry=self.retry()
            ):
                yield ListedObject(blob.name[len(base) :], int(blob.size or 0), blob.updated)
        except Exception as exc:
            raise self.error(f"cannot list gs://{self.bucket_name}/{base}{prefix}", exc) from exc

    @override
    def _delete(self, key: str) -> None:
        from google.api_core import exceptions as google_errors

        try:
            self.bucket.blob(self.object_name(key)).delete(retry=self.retry())
        except google_errors.NotFound:
            return
        except Exception as exc:
            raise self.error(f"cannot delete {self.object_uri(key)}", exc) from exc

    @override
    def _object_uri(self, key: str) -> str:
        return f"gs://{self.bucket_name}/{self.object_name(key)}"
