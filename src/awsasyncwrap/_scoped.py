"""A driver's ``async with`` block whose enter and exit run through the plugin pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any

__all__ = ["PipedContext", "piped_iter"]

#: A proxy's seam: ``pipe(method_name, call, *args, **kwargs)`` (see the proxies' ``_pipe``).
Pipe = Callable[..., Awaitable[Any]]


class PipedContext:
    """``async with`` over a driver context manager (``transaction()``, ``copy()``, ``pipeline()``).

    Entering runs as pipeline method ``name`` with the block's arguments (the call that opens the
    driver's context manager); leaving runs as ``name`` with no arguments. The value of the block
    is the driver's own (``AsyncTransaction``, ``AsyncCopy``, ``AsyncPipeline``).
    """

    __slots__ = ("_args", "_cm", "_kwargs", "_name", "_open", "_pipe")

    def __init__(
        self,
        pipe: Pipe,
        name: str,
        open_cm: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        self._pipe = pipe
        self._name = name
        self._open = open_cm
        self._args = args
        self._kwargs = kwargs or {}
        self._cm: Any = None

    async def _enter(self, *args: Any, **kwargs: Any) -> Any:
        self._cm = self._open(*args, **kwargs)
        return await self._cm.__aenter__()

    async def __aenter__(self) -> Any:
        return await self._pipe(self._name, self._enter, *self._args, **self._kwargs)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        cm = self._cm

        async def leave(*_: Any) -> bool | None:
            result: bool | None = await cm.__aexit__(exc_type, exc, tb)
            return result

        result: bool | None = await self._pipe(self._name, leave)
        return result


#: What a step of :func:`piped_iter` returns once the driver's iterator is exhausted.
_END = object()


async def piped_iter(
    pipe: Pipe, name: str, open_iter: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> AsyncIterator[Any]:
    """A driver's async iterator (``cur.stream()``, ``conn.notifies()``), each step as method ``name``.

    The first step opens the driver's iterator with the arguments (plugins see them: the
    statement of a stream); the later steps have none. Leaving early closes the driver's iterator.
    """
    it: Any = None

    async def first(*a: Any, **k: Any) -> Any:
        nonlocal it
        it = open_iter(*a, **k)
        return await _next(it)

    async def step(*_: Any) -> Any:
        return await _next(it)

    try:
        item = await pipe(name, first, *args, **kwargs)
        while item is not _END:
            yield item
            item = await pipe(name, step)
    finally:
        if it is not None:
            await it.aclose()


async def _next(it: Any) -> Any:
    try:
        return await it.__anext__()
    except StopAsyncIteration:
        return _END
