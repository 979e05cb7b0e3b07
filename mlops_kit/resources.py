"""Objects that hold something to give back: pooled connections, a writer thread, a child process."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Resource(ABC):
    """Something :meth:`close` gives back; a ``with`` block closes it on leaving, even on error."""

    @abstractmethod
    def close(self) -> None:
        """Give back what the object holds."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
