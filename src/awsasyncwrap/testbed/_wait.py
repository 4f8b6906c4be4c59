"""Polling external state (servers, processes) until a condition holds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

__all__ = ["POLL_INTERVAL", "until"]

POLL_INTERVAL = 0.02


async def until(
    check: Callable[[], Awaitable[bool]], *, interval: float = POLL_INTERVAL, most: float | None = None
) -> None:
    """Await ``check()`` every ``interval`` seconds until it returns True; with ``most``, the pause doubles
    after each miss up to ``most`` (a check that opens connections must not hammer a busy server).

    There is no event to wait for on another process's state, hence the poll; callers bound it with
    ``anyio.fail_after`` / ``move_on_after``.
    """
    pause = interval
    while True:
        if await check():
            return
        await asyncio.sleep(pause)
        if most is not None:
            pause = min(pause * 2, most)
