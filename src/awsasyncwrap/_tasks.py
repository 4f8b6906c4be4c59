"""Owned, named asyncio tasks: start one, wait for a group within a time, report one that died.

Every task the wrapper starts goes through :func:`spawn`, which names it and, given an owner (a set the
owner keeps), holds it there until it ends: the owner cancels and awaits what it holds when it closes
(:func:`cancel_and_wait`). Nothing here swallows cancellation: a caller cancelled while waiting gets its
``CancelledError``, and the tasks it waited for go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Coroutine, Iterator
from typing import Any, TypeVar

_Tasks = Collection["asyncio.Task[Any]"]

__all__ = ["TASK_PREFIX", "cancel_and_wait", "gather_within", "log_death", "spawn", "survive"]

T = TypeVar("T")

#: The name of every task the wrapper starts for its own work begins with this.
TASK_PREFIX = "awsasyncwrap:"


def spawn(
    coro: Coroutine[Any, Any, T],
    name: str,
    owner: set[asyncio.Task[T]] | None = None,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
) -> asyncio.Task[T]:
    """Run ``coro`` as a task called ``name`` (as given) on ``loop`` (default: the running one).

    ``owner``: the set of its owner's tasks; the task stays in it until it ends.
    """
    task = (loop or asyncio.get_running_loop()).create_task(coro, name=name)
    if owner is not None:
        owner.add(task)
        task.add_done_callback(owner.discard)
    return task


def log_death(log: logging.Logger) -> Callable[[asyncio.Task[Any]], None]:
    """A done callback that logs, on ``log`` at ERROR, a task that ended with an exception."""

    def report(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("background task %s died: %r", task.get_name(), exc, exc_info=exc)

    return report


@contextlib.contextmanager
def survive(log: logging.Logger, msg: str, *args: object) -> Iterator[None]:
    """Log an ``Exception`` the block raises (``log.warning(msg, *args)`` with its traceback) and go on.

    For one iteration of a loop or one callback of many: cancellation (not an ``Exception``) passes.
    """
    try:
        yield
    except Exception:
        log.warning(msg, *args, exc_info=True)


async def gather_within(tasks: _Tasks, within: float | None) -> set[asyncio.Task[Any]]:
    """Wait up to ``within`` seconds (None: no limit) for ``tasks`` to end; return those still running.

    The errors of the tasks that ended are read here (they are their owners' to report), never raised.
    Cancelling the caller stops the wait, not the tasks.
    """
    pending = {t for t in tasks if not t.done()}
    if pending:
        _done, pending = await asyncio.wait(pending, timeout=within)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()
    return pending


async def cancel_and_wait(tasks: _Tasks, within: float | None) -> set[asyncio.Task[Any]]:
    """Cancel ``tasks`` and wait up to ``within`` seconds for them to end; return those still running."""
    for task in tasks:
        task.cancel()
    return await gather_within(tasks, within)
