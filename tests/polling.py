"""Polling with a deadline: for state that no event announces (tasks ending, servers' sessions, monitors)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

__all__ = ["until"]


async def until(
    condition: Callable[[], object | Awaitable[object]], timeout: float = 10.0, every: float = 0.01
) -> None:
    """Poll ``condition`` (plain or async) every ``every`` seconds until it holds.

    AssertionError once ``timeout`` seconds have passed without it holding.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(every)
