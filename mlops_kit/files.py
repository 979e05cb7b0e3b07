"""Files a user names or the kit writes: text read with one-line errors, stored names kept inside."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from mlops_kit.errors import ConfigError, IntegrityError, NotFoundError, shorten


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
