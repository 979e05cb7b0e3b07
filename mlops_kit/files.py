"""Reading the text files a user names (configs, specs, metrics, environments) with one-line errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_kit.errors import ConfigError, NotFoundError, shorten

if TYPE_CHECKING:
    from pathlib import Path


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
