"""The local twin's artifact store: a directory, ``file:///absolute/path``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

from typing_extensions import override

from mlops_kit.artifacts import ArtifactStore
from mlops_kit.errors import BackendError, ConfigError


class LocalArtifactStore(ArtifactStore):
    """Artifacts under a local directory."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ConfigError(f"malformed file URI {uri!r}: use 'file:///absolute/path'")
        self.root = Path(unquote(parts.path))

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
        free = _free_bytes(self.root)
        return f"directory {self.root} ({free / 2**30:.1f} GiB free)"


def _free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize
