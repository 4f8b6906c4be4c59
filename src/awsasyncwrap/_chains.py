"""Call chains through a connection's plugins, built once and called on every network call (pure: no I/O).

A chain runs ``call(*args, **kwargs)`` through the plugins' ``execute`` hooks, outermost first; the
plugin manager (``_pipeline.py``) decides which plugins take part in which method and caches the chains.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .plugin import Plugin

__all__ = ["Call", "Chain", "CursorChains", "StatementChain", "build_chain", "build_statement_chain"]

Call = Callable[..., Awaitable[Any]]
#: ``chain(target, method_name, call, *args, **kwargs)``: run ``call(*args, **kwargs)`` through the plugins.
Chain = Callable[..., Awaitable[Any]]


def build_chain(plugins: list[Plugin]) -> Chain:
    """The call chain through ``plugins`` (outermost first) down to the driver (pure: no I/O, no state).

    The chain is called as ``chain(target, method_name, call, *args, **kwargs)``, the arguments
    a plugin's ``execute`` gets. Per call it costs one plain function call and one
    ``functools.partial`` (C, no frame) per plugin: the chain returns the outermost plugin's
    coroutine instead of awaiting it in one of its own (one frame less on every call and on every
    resumption of a suspended call), and each plugin's ``execute_func`` is a partial of the next
    plugin's ``execute`` (the innermost one's, of the driver call). Calling ``execute_func`` again
    (a retry) starts the rest of the chain anew.
    """
    executes = [plugin.execute for plugin in plugins]
    first = executes[0]
    if len(executes) == 1:

        def chain1(target: object, name: str, call: Call, *args: Any, **kwargs: Any) -> Awaitable[Any]:
            return first(target, name, partial(call, *args, **kwargs), *args, **kwargs)

        return chain1
    if len(executes) == 2:
        second = executes[1]

        def chain2(target: object, name: str, call: Call, *args: Any, **kwargs: Any) -> Awaitable[Any]:
            inner = partial(second, target, name, partial(call, *args, **kwargs), *args, **kwargs)
            return first(target, name, inner, *args, **kwargs)

        return chain2
    rest = executes[:0:-1]  # innermost first, without the outermost

    def chain(target: object, name: str, call: Call, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        func: Callable[[], Awaitable[Any]] = partial(call, *args, **kwargs)
        for execute in rest:
            func = partial(execute, target, name, func, *args, **kwargs)
        return first(target, name, func, *args, **kwargs)

    return chain


#: ``chain(target, call, query, params, kwargs)``: :func:`build_chain` specialised for one statement call.
StatementChain = Callable[[object, Call, Any, Any, dict[str, Any]], Awaitable[Any]]


def build_statement_chain(plugins: list[Plugin], name: str) -> StatementChain:
    """:func:`build_chain` specialised for calls shaped ``call(query, params, **kwargs)`` (execute).

    The same chain, but called with fixed positions and the keywords as a dict: a plain call the
    interpreter runs without packing and unpacking the arguments (the cursor's hot path).
    """
    executes = [plugin.execute for plugin in plugins]
    first = executes[0]
    rest = tuple(executes[:0:-1])  # innermost first, without the outermost
    if not rest:

        def chain1(
            target: object, call: Call, query: Any, params: Any, kwargs: dict[str, Any]
        ) -> Awaitable[Any]:
            return first(target, name, partial(call, query, params, **kwargs), query, params, **kwargs)

        return chain1

    def chain(target: object, call: Call, query: Any, params: Any, kwargs: dict[str, Any]) -> Awaitable[Any]:
        func: Callable[[], Awaitable[Any]] = partial(call, query, params, **kwargs)
        for execute in rest:
            func = partial(execute, target, name, func, query, params, **kwargs)
        return first(target, name, func, query, params, **kwargs)

    return chain


class CursorChains:
    """The cursor's fast path: the chains of the calls it makes on every statement (None: no plugin).

    Looked up once per connection and cursor kind instead of once per call; ``execute`` is the
    ``Cursor.execute`` chain as :func:`build_statement_chain` specialises it.
    """

    __slots__ = ("execute", "fetchone")

    def __init__(self, execute: StatementChain | None, fetchone: Chain | None) -> None:
        self.execute = execute
        self.fetchone = fetchone

    def close(self, closed_chain: Chain) -> None:
        """The connection closed: network-bound calls of existing cursors raise at once."""

        def closed_statement(
            target: object, call: Call, query: Any, params: Any, kwargs: dict[str, Any]
        ) -> Awaitable[Any]:
            return closed_chain(target, "Cursor.execute", call, query, params, **kwargs)

        self.execute = closed_statement
        if self.fetchone is not None:  # a server-side cursor's fetch reaches the network
            self.fetchone = closed_chain
