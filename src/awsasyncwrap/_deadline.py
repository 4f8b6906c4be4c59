"""Time limits that never cancel a driver call in flight, and closing that never fails.

Cancelling a psycopg call blocked on a dead link makes psycopg try a server-side cancel and wait for the
query (about 10 s). A limit on a database call therefore shuts the socket down instead (:class:`AbortAfter`,
:func:`run_bounded`), which ends the call at once with the driver's own error. Plain waits use scoped
timeouts that run in the caller's task (:func:`wait_set`), never ``asyncio.wait_for`` (on Python 3.11 its
inner task can finish with a result nobody receives when the caller is cancelled: a leaked connection).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

import anyio

from ._tasks import gather_within, spawn

__all__ = ["AbortAfter", "DeadlineExceeded", "abort_after", "close_quietly", "run_bounded", "wait_set"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a child of :func:`run_bounded` gets to finish after ``on_expiry`` before it is cancelled.
STOP_GRACE = 1.0
#: How long :func:`close_quietly` waits for a polite close by default.
CLOSE_TIMEOUT = 2.0


class DeadlineExceeded(TimeoutError):
    """A bounded call did not finish in time."""


class AbortAfter:
    """Calls ``abort(conn)`` once, ``limit`` seconds from now, unless cancelled; can be brought forward.

    A context manager: leaving the block cancels it.
    """

    __slots__ = ("_abort", "_conn", "_deadline", "_done", "_handle", "_loop", "fired")

    def __init__(self, limit: float, abort: Callable[[Any], None], conn: Any) -> None:
        self._loop = asyncio.get_running_loop()
        self._abort = abort
        self._conn = conn
        self._done = False
        #: whether ``abort(conn)`` was called
        self.fired = False
        self._deadline = self._loop.time() + limit
        self._handle = self._loop.call_at(self._deadline, self._fire)

    def _fire(self) -> None:
        self._done = True
        self.fired = True
        self._abort(self._conn)

    def bring_forward(self, limit: float) -> None:
        """Fire at most ``limit`` seconds from now."""
        when = self._loop.time() + limit
        if when < self._deadline and not self._done:
            self._handle.cancel()
            self._deadline = when
            self._handle = self._loop.call_at(when, self._fire)

    def cancel(self) -> None:
        """Never fire (any more)."""
        self._done = True
        self._handle.cancel()

    def __enter__(self) -> AbortAfter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


def abort_after(limit: float, abort: Callable[[Any], None], conn: Any) -> AbortAfter:
    """``with abort_after(limit, driver.abort, conn):``: shut ``conn`` down if the block takes too long."""
    return AbortAfter(limit, abort, conn)


async def wait_set(event: asyncio.Event, within: float) -> bool:
    """Whether ``event`` is set within ``within`` seconds (the wait runs in the caller's task)."""
    with anyio.move_on_after(within):
        await event.wait()
    return event.is_set()


class _Closer(Protocol):
    def is_closed(self, conn: Any) -> bool: ...

    async def close(self, conn: Any) -> None: ...

    def close_now(self, conn: Any) -> None: ...


async def close_quietly(driver: _Closer, conn: Any, limit: float = CLOSE_TIMEOUT) -> None:
    """Close a connection politely if that takes less than ``limit`` s, else drop it (no I/O).

    Never raises but cancellation (the connection is dropped then too).
    """
    if driver.is_closed(conn):
        return
    try:
        with anyio.move_on_after(limit) as scope:
            await driver.close(conn)
        if not scope.cancelled_caught:
            return
    except Exception as exc:
        logger.debug("closing a connection failed: %s", type(exc).__name__)
    except BaseException:
        driver.close_now(conn)
        raise
    driver.close_now(conn)


async def run_bounded(
    coro: Coroutine[Any, Any, T],
    deadline: float,
    on_expiry: Callable[[asyncio.Task[T]], None],
    name: str,
) -> T:
    """Await ``coro`` as a child task until ``deadline`` (``time.monotonic()`` seconds).

    On expiry or cancellation of the caller, ``on_expiry(task)`` runs first (typically a socket
    shutdown), then the child gets :data:`STOP_GRACE` seconds to end before it is cancelled; the caller
    then sees :class:`DeadlineExceeded` (or its own cancellation).
    """
    task = spawn(coro, name)
    try:
        done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - time.monotonic()))
    except asyncio.CancelledError:
        await _stop(task, on_expiry)
        raise
    if not done:
        await _stop(task, on_expiry)
        raise DeadlineExceeded(f"{name} did not finish in time")
    return task.result()


async def _stop(task: asyncio.Task[T], on_expiry: Callable[[asyncio.Task[T]], None]) -> None:
    try:
        on_expiry(task)
    except Exception:
        logger.debug("on_expiry of %s failed", task.get_name(), exc_info=True)
    if not await gather_within([task], STOP_GRACE):
        return  # its error (if any) was read: the caller reports the failure its own way
    task.cancel()
    if await gather_within([task], STOP_GRACE):
        logger.warning("%s did not stop after its deadline", task.get_name())
