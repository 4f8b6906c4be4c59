"""A process-wide cache of expiring values with single-flight fetching.

Concurrent requests for a missing or expired key share one fetch: the first
caller fetches, the others wait for its result. If that caller is cancelled,
a waiter takes over (cancellation of one connect never fails another).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["CacheStats", "ExpiringCache", "Fetched"]

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Fetched(Generic[V]):
    """A value from the cache; ``fresh`` when it was fetched for this request (not an earlier one)."""

    value: V
    fresh: bool


@dataclass(slots=True)
class CacheStats:
    """Counters of one cache (for tests and diagnostics)."""

    hits: int = 0
    fetches: int = 0


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    created: float
    expires: float


class _LeaderGone(Exception):
    """The task fetching for a key was cancelled; a waiter must fetch itself."""


class ExpiringCache(Generic[V]):
    """Values by key, each valid until its own expiry; one fetch at a time per key and event loop."""

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.clock = clock
        self.stats = CacheStats()
        self._entries: dict[Hashable, _Entry[V]] = {}
        self._inflight: dict[Hashable, asyncio.Future[V]] = {}

    def __repr__(self) -> str:  # never shows values
        return f"<ExpiringCache {self.name}: {len(self._entries)} entries>"

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, key: Hashable, max_age: float | None = None) -> V | None:
        """The cached value if still valid (for ``max_age`` seconds after it was fetched, if given)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = self.clock()
        if now >= entry.expires or (max_age is not None and now >= entry.created + max_age):
            return None
        return entry.value

    def put(self, key: Hashable, value: V, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds."""
        now = self.clock()
        self._entries[key] = _Entry(value, now, now + ttl)

    def invalidate(self, key: Hashable) -> None:
        """Forget ``key``."""
        self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget everything (fetches in progress still complete and store their result)."""
        self._entries.clear()
        self.stats = CacheStats()

    async def get(
        self,
        key: Hashable,
        fetch: Callable[[], Awaitable[tuple[V, float]]],
        *,
        max_age: float | None = None,
        stale: V | None = None,
    ) -> Fetched[V]:
        """The value of ``key``: cached, or from ``fetch()`` (which returns the value and its ttl).

        ``stale``: a value found not to work; a cached entry equal to it is fetched anew
        (unless another caller has already replaced it).
        """
        loop = asyncio.get_running_loop()
        while True:
            value = self.peek(key, max_age)
            if value is not None and (stale is None or value != stale):
                self.stats.hits += 1
                return Fetched(value, False)
            pending = self._inflight.get(key)
            if pending is not None and pending.get_loop() is loop:
                try:
                    return Fetched(await asyncio.shield(pending), True)
                except _LeaderGone:
                    continue
            return Fetched(await self._fetch(key, fetch, loop), True)

    async def _fetch(
        self, key: Hashable, fetch: Callable[[], Awaitable[tuple[V, float]]], loop: asyncio.AbstractEventLoop
    ) -> V:
        future: asyncio.Future[V] = loop.create_future()
        self._inflight[key] = future
        self.stats.fetches += 1
        try:
            value, ttl = await fetch()
        except BaseException as exc:
            error = _LeaderGone() if isinstance(exc, asyncio.CancelledError) else exc
            future.set_exception(error)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        else:
            self.put(key, value, ttl)
            future.set_result(value)
            return value
        finally:
            if self._inflight.get(key) is future:
                del self._inflight[key]
