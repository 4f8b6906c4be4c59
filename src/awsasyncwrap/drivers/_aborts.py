"""Which driver connections the wrapper aborted, and when (process-wide sequence numbers)."""

from __future__ import annotations

import contextlib
import weakref
from typing import Any

__all__ = ["ABORTS", "AbortLog"]


class AbortLog:
    """When the wrapper aborted which driver connections, as a sequence number (process-wide).

    A call can read :attr:`seq` before it starts; if its connection was aborted at or before that
    number, the call's statement never left the client (the socket was already shut down).
    """

    __slots__ = ("_marks", "seq")

    def __init__(self) -> None:
        self.seq = 0
        self._marks: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()

    def mark(self, conn: Any) -> None:
        """``conn`` was aborted now."""
        self.seq += 1
        with contextlib.suppress(TypeError):  # a connection class without weak references: not logged
            self._marks.setdefault(conn, self.seq)

    def aborted_by(self, conn: Any, seq: int) -> bool:
        """Whether ``conn`` had been aborted when :attr:`seq` was ``seq``."""
        try:
            mark = self._marks.get(conn)
        except TypeError:
            return False
        return mark is not None and mark <= seq


#: Every abort of the process (see :class:`AbortLog`).
ABORTS = AbortLog()
