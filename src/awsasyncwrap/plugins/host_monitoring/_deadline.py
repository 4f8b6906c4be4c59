"""Deadlines that never cancel a driver call in flight.

Cancelling a psycopg task blocked on a dead link makes psycopg try a
server-side cancel and wait for the query (about 10 s). :func:`run_bounded`
therefore runs the call as a child task and, when the deadline passes (or the
caller is cancelled), calls ``on_expiry`` (typically a socket shutdown, which
ends the call at once with the driver's own error) before waiting briefly for
the child to finish.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["DeadlineExceeded", "run_bounded"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a child gets to finish after ``on_expiry`` before it is cancelled.
STOP_GRACE = 1.0


class DeadlineExceeded(TimeoutError):
    """A bounded call did not finish in time."""


async def run_bounded(
    coro: Coroutine[Any, Any, T],
    deadline: float,
    on_expiry: Callable[[asyncio.Task[T]], None],
    name: str,
) -> T:
    """Await ``coro`` until ``deadline`` (``time.monotonic()`` seconds).

    On expiry or cancellation of the caller, ``on_expiry(task)`` runs first, then the child
    gets :data:`STOP_GRACE` seconds to end before it is cancelled; the caller then sees
    :class:`DeadlineExceeded` (or its own cancellation).
    """
    task = asyncio.get_running_loop().create_task(coro, name=name)
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
    if not task.done():
        await asyncio.wait({task}, timeout=STOP_GRACE)
    if not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=STOP_GRACE)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved: the caller reports the failure its own way
    elif not task.done():
        logger.warning("%s did not stop after its deadline", task.get_name())
