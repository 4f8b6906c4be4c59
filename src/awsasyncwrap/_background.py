"""Ownership of background work: :class:`BackgroundService` and the per-loop :class:`ServiceRegistry`.

Shared monitors (one topology monitor per cluster, one health monitor per
host) are services kept in a registry that belongs to one event loop. A
service is acquired by every connection that needs it and released when the
connection closes; the last release starts a disposal delay after which the
service stops. :func:`release_resources` stops every service of the running
loop at once. No task is ever created without an owner that cancels and
awaits it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from typing import Any, TypeVar

from ._tasks import TASK_PREFIX, gather_within, log_death, spawn, survive

__all__ = ["BackgroundService", "ServiceRegistry", "register_shutdown_hook", "registry", "release_resources"]

logger = logging.getLogger(__name__)

S = TypeVar("S", bound="BackgroundService")

_report_death = log_death(logger)

_CLOSE_TIMEOUT = 5.0


class BackgroundService:
    """Something that runs owned asyncio tasks until :meth:`aclose`."""

    name: str = "service"

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._close_callbacks: list[Callable[[], None]] = []

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    @property
    def task_count(self) -> int:
        """How many of this service's tasks are still running."""
        return sum(1 for t in self._tasks if not t.done())

    def add_close_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (plain, must not raise) as soon as :meth:`aclose` starts."""
        self._close_callbacks.append(callback)

    def remove_close_callback(self, callback: Callable[[], None]) -> None:
        """Undo :meth:`add_close_callback`."""
        with contextlib.suppress(ValueError):
            self._close_callbacks.remove(callback)

    def _closing(self) -> None:
        self._closed = True
        callbacks, self._close_callbacks = self._close_callbacks, []
        for callback in callbacks:
            with survive(logger, "close callback of %s failed", self.name):
                callback()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run ``coro`` as a task owned by this service; it is cancelled by :meth:`aclose`."""
        if self._closed:
            coro.close()
            raise RuntimeError(f"{self.name} is closed")
        task = spawn(coro, f"{TASK_PREFIX}{name}", self._tasks)
        task.add_done_callback(_report_death)
        return task

    async def aclose(self) -> None:
        """Cancel every owned task and wait (bounded) for them to finish."""
        self._closing()
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        current = asyncio.current_task()
        for task in await gather_within([t for t in tasks if t is not current], _CLOSE_TIMEOUT):
            logger.warning("background task %s did not stop within %.0f s", task.get_name(), _CLOSE_TIMEOUT)
        await self.on_close()

    async def on_close(self) -> None:
        """Hook for subclasses: free resources (connections) after the tasks stopped."""


class _Entry:
    __slots__ = ("disposer", "refs", "service")

    def __init__(self, service: BackgroundService) -> None:
        self.service = service
        self.refs = 0
        self.disposer: asyncio.TimerHandle | None = None


class ServiceRegistry:
    """Shared services of one event loop, by key, reference counted."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._entries: dict[Hashable, _Entry] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def get(self, key: Hashable) -> BackgroundService | None:
        """The live service under ``key``, if any (does not acquire it)."""
        entry = self._entries.get(key)
        return entry.service if entry else None

    def services(self) -> list[BackgroundService]:
        """Every live service."""
        return [e.service for e in self._entries.values()]

    def acquire(self, key: Hashable, factory: Callable[[], S], kind: type[S]) -> S:
        """The service under ``key`` (created by ``factory`` if missing), with one more reference."""
        entry = self._entries.get(key)
        if entry is None or entry.service.closed:
            entry = _Entry(factory())
            self._entries[key] = entry
        if entry.disposer is not None:
            entry.disposer.cancel()
            entry.disposer = None
        entry.refs += 1
        service = entry.service
        if not isinstance(service, kind):
            raise TypeError(f"service {key!r} is a {type(service).__name__}, not a {kind.__name__}")
        return service

    def release(self, key: Hashable, dispose_after: float) -> None:
        """Drop one reference; the last one stops the service after ``dispose_after`` seconds."""
        entry = self._entries.get(key)
        if entry is None:
            return
        entry.refs -= 1
        if entry.refs > 0:
            return
        if dispose_after <= 0:
            self._dispose(key, entry)
        else:
            entry.disposer = self._loop.call_later(dispose_after, self._dispose, key, entry)

    def _dispose(self, key: Hashable, entry: _Entry) -> None:
        if self._entries.get(key) is entry and entry.refs <= 0:
            del self._entries[key]
            spawn(entry.service.aclose(), f"{TASK_PREFIX}dispose:{key}", self._closing, loop=self._loop)

    async def aclose(self) -> None:
        """Stop every service now, whoever still holds it."""
        entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            if entry.disposer is not None:
                entry.disposer.cancel()
        await asyncio.gather(
            *(e.service.aclose() for e in entries), *list(self._closing), return_exceptions=True
        )


_registries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ServiceRegistry] = (
    weakref.WeakKeyDictionary()
)


def registry() -> ServiceRegistry:
    """The service registry of the running event loop."""
    loop = asyncio.get_running_loop()
    reg = _registries.get(loop)
    if reg is None:
        reg = _registries[loop] = ServiceRegistry(loop)
    return reg


#: what the next :func:`release_resources` awaits first (aws-advanced-python-wrapper's shutdown hooks)
_shutdown_hooks: list[Callable[[], Awaitable[object]]] = []


def register_shutdown_hook(hook: Callable[[], Awaitable[object]]) -> None:
    """Have the next :func:`release_resources` await ``hook()`` before it stops the monitors (once)."""
    if not callable(hook):
        raise TypeError(f"a shutdown hook is an async callable taking no argument, got {type(hook).__name__}")
    _shutdown_hooks.append(hook)


async def _run_shutdown_hooks() -> None:
    hooks = _shutdown_hooks[:]
    _shutdown_hooks.clear()
    if not hooks:
        return
    outcomes = await asyncio.gather(*(hook() for hook in hooks), return_exceptions=True)
    for hook, outcome in zip(hooks, outcomes, strict=True):
        if isinstance(outcome, asyncio.CancelledError):
            raise outcome
        if isinstance(outcome, BaseException):
            logger.warning(
                "shutdown hook %s failed: %s", getattr(hook, "__qualname__", "?"), type(outcome).__name__
            )


async def release_resources() -> None:
    """Await the registered shutdown hooks, then stop every background monitor of the running event loop
    (call at application shutdown)."""
    await _run_shutdown_hooks()
    loop = asyncio.get_running_loop()
    reg = _registries.pop(loop, None)
    if reg is not None:
        await reg.aclose()
