"""The time bound of driver connects: one timer per event loop for all of them (Python 3.11+).

``asyncio.timeout`` makes, arms and cancels a timer handle for every connect (some 350 bytecodes, a
good part of what a connect costs the wrapper). Connects with the same bound end in the order they
started, so one timer at the earliest deadline serves them all: a connect only enters its deadline in
the loop's :class:`_Watch` and leaves it when done; the timer, when it fires, cancels the tasks whose
deadline passed (as ``asyncio.timeout`` does: ``task.cancel()``, undone with ``uncancel()`` by the
connect that sees it) and is set again for the earliest deadline left.
"""

from __future__ import annotations

import asyncio
import math
import weakref

__all__ = ["Bound", "bound_of", "supported"]

#: whether tasks count cancellation requests (``uncancel``), which the bound needs: Python 3.11+
supported = hasattr(asyncio.Task, "uncancel")


class Bound:
    """One connect's deadline (loop time) in its loop's watch."""

    __slots__ = ("cancelling", "deadline", "expired", "task")

    def __init__(self, task: asyncio.Task[object], deadline: float) -> None:
        self.task = task
        self.deadline = deadline
        self.cancelling: int = task.cancelling()  # type: ignore[attr-defined]  # 3.11+
        #: the deadline passed and the task was cancelled for it
        self.expired = False

    def caused(self, cancelled: bool) -> bool:
        """Whether this bound ended the connect: undo its cancellation request (``cancelled``: the
        connect ended with CancelledError; True if that came from this bound only)."""
        if not self.expired:
            return False
        uncancelled: int = self.task.uncancel()  # type: ignore[attr-defined]  # 3.11+
        return uncancelled <= self.cancelling and cancelled


class _Watch:
    """The deadlines of one loop's connects, behind one timer handle."""

    __slots__ = ("__weakref__", "entries", "handle", "loop", "when")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.entries: dict[Bound, None] = {}  # an ordered set
        self.handle: asyncio.TimerHandle | None = None
        self.when = math.inf  # when the handle fires

    def enter(self, limit: float) -> Bound:
        task = asyncio.current_task(self.loop)
        if task is None:
            raise RuntimeError("a bounded connect runs in a task")
        entry = Bound(task, self.loop.time() + limit)
        self.entries[entry] = None
        if entry.deadline < self.when:
            if self.handle is not None:
                self.handle.cancel()
            self.when = entry.deadline
            self.handle = self.loop.call_at(entry.deadline, self._fire)
        return entry

    def leave(self, entry: Bound) -> None:
        # the timer stays set: when it fires it finds nothing due and is set again only if an entry is left
        self.entries.pop(entry, None)

    def _fire(self) -> None:
        due = max(self.when, self.loop.time())  # the loop may run a handle up to its clock resolution early
        self.handle = None
        self.when = math.inf
        earliest = math.inf
        for entry in list(self.entries):
            if entry.deadline <= due:
                del self.entries[entry]
                entry.expired = True
                entry.task.cancel()
            elif entry.deadline < earliest:
                earliest = entry.deadline
        if earliest < math.inf:
            self.when = earliest
            self.handle = self.loop.call_at(earliest, self._fire)


_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watch] = weakref.WeakKeyDictionary()
_last: _Watch | None = None  # the watch of the loop that connected last (no weak-map look-up per connect)


def bound_of(loop: asyncio.AbstractEventLoop) -> _Watch:
    """The watch of ``loop``."""
    global _last
    watch = _last
    if watch is None or watch.loop is not loop:
        watch = _watches.get(loop)
        if watch is None:
            watch = _watches[loop] = _Watch(loop)
        _last = watch
    return watch
