"""Files a user names or the kit writes.

Text and JSON are read with one-line errors, stored names are kept inside their folder, and failed writes
are said in one line (a full disk with its free space).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from mlops_kit.errors import BackendError, ConfigError, IntegrityError, NotFoundError, shorten

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of ``path``, the ``what`` a user gave (e.g. ``"metrics file"``).

    Raises:
        NotFoundError: the file does not exist.
        ConfigError: it is a directory, unreadable, or not UTF-8 text (a binary file given by
            mistake).
    """
    shown = shorten(str(path))
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotFoundError(
            f"cannot read {what} {shown!r}: it does not exist, give an existing file"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{what} {shown!r} is not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x}): "
            "give the text file, not a binary one"
        ) from exc
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read {what} {shown!r}: {reason}") from exc


def read_json(path: Path, what: str, fix: str = "") -> Any:
    """The JSON value in ``path``, the ``what`` a user gave; ``fix`` says how to make a good one.

    Raises:
        NotFoundError: the file does not exist.
        ConfigError: it is unreadable, not UTF-8 text, not JSON, or nested too deep to read.
    """
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{what} {shorten(str(path))!r} is not valid JSON (line {exc.lineno}, column "
            f"{exc.colno}): {exc.msg}{f'; {fix}' if fix else ''}"
        ) from exc
    except RecursionError as exc:  # arrays or objects nested about a thousand deep
        raise ConfigError(
            f"{what} {shorten(str(path))!r} nests its JSON too deep to be read"
            f"{f': {fix}' if fix else ''}"
        ) from exc


def path_inside(directory: Path, name: str) -> Path:
    """``directory / name`` when ``name`` is a relative path that stays inside ``directory``.

    ``name`` comes from stored metadata (a file path recorded with a model version): a damaged or
    hostile record such as ``../x`` or ``/etc/x`` must not write outside the directory.

    Raises:
        IntegrityError: ``name`` is empty, absolute, has a ``..`` part, or resolves (through a
            symlink) outside ``directory``.
    """
    parts = PurePosixPath(name).parts
    joined = directory / name
    root = directory.resolve()
    if (
        not name
        or "\x00" in name
        or PurePosixPath(name).is_absolute()
        or Path(name).is_absolute()
        or ".." in parts
        or not joined.resolve().is_relative_to(root)
    ):
        raise IntegrityError(
            f"stored file path {shorten(name)!r} leads outside {shorten(str(directory))!r}: "
            "the record is damaged; nothing was written there"
        )
    return joined


def free_space(path: Path) -> str:
    """The free space of the file system holding ``path`` (or its nearest existing folder)."""
    existing = next((p for p in (path, *path.parents) if p.exists()), Path(path.anchor or "/"))
    free = shutil.disk_usage(existing).free
    return f"{free / 2**30:.1f} GiB" if free >= 2**30 else f"{free / 2**20:.1f} MiB"


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full.

    As an ``OSError``, or in the text of a library that quotes the system's message (DuckDB's
    "No space left on device").
    """
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
        return True
    return any(os.strerror(code) in str(exc) for code in _DISK_FULL)


def write_failed(what: str, path: Path, exc: BaseException) -> BackendError:
    """The one-line error of writing ``what`` to ``path`` that failed with ``exc``.

    A full disk (or quota) is named with the folder and the space left, whether the error is an
    ``OSError`` or a library's message quoting the system's (DuckDB's "No space left on device").
    """
    shown = shorten(str(path))
    if disk_full(exc):
        return BackendError(
            f"cannot write {what}: the disk holding {shown!r} is full ({free_space(path)} free); "
            "free some space or move the folder to a larger disk, then retry"
        )
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return BackendError(f"cannot write {what} to {shown!r}: {shorten(reason, 300)}")
