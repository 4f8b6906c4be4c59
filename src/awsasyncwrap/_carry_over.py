"""What the application gave the driver connection through the proxy, put on every later driver connection.

The proxy records, per wrapped connection, what it set on the current driver
connection: attributes (psycopg ``row_factory``, ``prepare_threshold``,
``cursor_factory`` ...; aiomysql ``cursorclass``), notice and notify handlers,
adapters and types registered through ``conn.adapters``, and the channels of
``LISTEN`` / ``UNLISTEN`` statements run through it. When a plugin makes
another driver connection current (failover, read/write switch, a connection
from an internal pool), :meth:`CarryOver.apply` gives it all of that before it
becomes current, after the session state (:mod:`._session_state`, whose
``on_new_connection`` callbacks cover what the application sets with SQL).

Each driver connection remembers what it already has, so applying is
incremental: a connection that comes back (read/write splitting) gets only
what changed since it was last current.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._listen import listen_changes
from .hostinfo import HostInfo, HostRole

if TYPE_CHECKING:
    from .drivers import DriverDialect

__all__ = ["CarryOver", "ConnectionChange"]

logger = logging.getLogger(__name__)

#: Seconds the LISTENs on a new connection may take (a hung server must not hang a failover).
_LISTEN_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class ConnectionChange:
    """A driver connection about to become current in place of another."""

    new: Any
    #: the connection it replaces (may be closed or broken; None for the first one)
    old: Any
    #: where ``new`` is connected
    host: HostInfo


@dataclass(slots=True)
class _Given:
    """What one driver connection already has of the recorded state."""

    handlers: dict[str, list[Any]] = field(default_factory=dict)
    adapter_calls: int = 0
    channels: set[str] = field(default_factory=set)


class CarryOver:
    """What one wrapped connection carries from driver connection to driver connection."""

    def __init__(self, driver: DriverDialect) -> None:
        self._driver = driver
        self._attrs: dict[str, Any] = {}
        self._pristine: dict[str, Any] = {}  # each attribute's value before the application first set it
        self._handlers: dict[str, list[Any]] = {}  # "notice" / "notify" -> callbacks, in order
        self._adapter_calls: list[tuple[str, tuple[Any, ...]]] = []
        self._channels: set[str] = set()
        #: made at the first connection change (most connections never have one)
        self._given: weakref.WeakKeyDictionary[Any, _Given] | None = None

    async def apply(self, change: ConnectionChange) -> None:
        """Give ``change.new`` what the application set through the proxy (the plugin service calls this)."""
        conn = change.new
        if self._given is None:
            self._given = weakref.WeakKeyDictionary()
        given = self._given.get(conn)
        if given is None:
            given = self._given[conn] = _Given()
        for name, value in self._attrs.items():
            setattr(conn, name, value)
        for kind, callbacks in self._handlers.items():
            self._sync_handlers(conn, kind, callbacks, given)
        for method, args in self._adapter_calls[given.adapter_calls :]:
            _call_adapters(conn, method, args)
        given.adapter_calls = len(self._adapter_calls)
        if given.channels != self._channels and change.host.role is not HostRole.READER:
            await self._sync_channels(conn, given)

    def release(self, conn: Any) -> bool:
        """``conn`` leaves this wrapped connection for a pool others share: undo what it was given.

        False if that cannot be done without I/O (adapters cannot be unregistered; channels it
        listens to): then close it rather than pool it.
        """
        given = None if self._given is None else self._given.pop(conn, None)
        if given is not None and (given.adapter_calls or given.channels):
            return False
        for name, value in self._pristine.items():
            setattr(conn, name, value)
        for kind, callbacks in given.handlers.items() if given is not None else ():
            for callback in callbacks:
                with contextlib.suppress(ValueError):  # the application removed it on the driver itself
                    getattr(conn, f"remove_{kind}_handler")(callback)
        return True

    # --- recording (the proxy calls these with the current driver connection) ---------------

    def set_attribute(self, conn: Any, name: str, value: Any) -> None:
        """``conn.name = value`` now and on every later connection."""
        if not hasattr(conn, name):
            raise AttributeError(f"{type(conn).__name__!r} connections have no attribute {name!r}")
        pristine = getattr(conn, name)
        setattr(conn, name, value)
        self._pristine.setdefault(name, pristine)
        self._attrs[name] = value

    def add_handler(self, conn: Any, kind: str, callback: Any) -> None:
        """``conn.add_<kind>_handler(callback)`` now and on every later connection."""
        given = self._given_current(conn)
        getattr(conn, f"add_{kind}_handler")(callback)
        self._handlers.setdefault(kind, []).append(callback)
        given.handlers.setdefault(kind, []).append(callback)

    def remove_handler(self, conn: Any, kind: str, callback: Any) -> None:
        """``conn.remove_<kind>_handler(callback)`` (the driver's error if it was not added)."""
        given = self._given_current(conn)
        getattr(conn, f"remove_{kind}_handler")(callback)
        for callbacks in (self._handlers.get(kind), given.handlers.get(kind)):
            if callbacks is not None and callback in callbacks:
                callbacks.remove(callback)

    def record_adapters(self, conn: Any, method: str, args: tuple[Any, ...]) -> Any:
        """``conn.adapters.<method>(*args)`` (``types.add`` too) now and on every later connection."""
        given = self._given_current(conn)
        result = _call_adapters(conn, method, args)
        call = (method, args)
        if not self._adapter_calls or self._adapter_calls[-1] != call:
            self._adapter_calls.append(call)
        given.adapter_calls = len(self._adapter_calls)
        return result

    def note_statement(self, conn: Any, query: Any) -> None:
        """A statement ran on ``conn``; remember its channel if it was LISTEN / UNLISTEN.

        The cursor calls this only for a statement whose text starts with a character of
        :data:`._listen.MAYBE_LISTEN` (or that is not a ``str``).
        """
        changes = listen_changes(query)
        if not changes:
            return
        given = self._given_current(conn)
        for listen, channel in changes:
            for channels in (self._channels, given.channels):
                if listen:
                    channels.add(channel)
                elif channel == "*":
                    channels.clear()
                else:
                    channels.discard(channel)

    @property
    def channels(self) -> frozenset[str]:
        """The channels LISTENed to through the proxy (and not UNLISTENed)."""
        return frozenset(self._channels)

    # --- internals ----------------------------------------------------------------------------

    def _given_current(self, conn: Any) -> _Given:
        """What the current connection has: everything recorded so far (it was current all along)."""
        if self._given is None:
            self._given = weakref.WeakKeyDictionary()
        given = self._given.get(conn)
        if given is None:
            handlers = {kind: list(callbacks) for kind, callbacks in self._handlers.items()}
            given = _Given(handlers, len(self._adapter_calls), set(self._channels))
            self._given[conn] = given
        return given

    @staticmethod
    def _sync_handlers(conn: Any, kind: str, callbacks: list[Any], given: _Given) -> None:
        have = given.handlers.setdefault(kind, [])
        for callback in [c for c in have if c not in callbacks]:
            getattr(conn, f"remove_{kind}_handler")(callback)
            have.remove(callback)
        for callback in callbacks:
            if callback not in have:
                getattr(conn, f"add_{kind}_handler")(callback)
                have.append(callback)

    async def _sync_channels(self, conn: Any, given: _Given) -> None:
        """LISTEN / UNLISTEN on ``conn`` until it listens to the recorded channels (best effort)."""
        from psycopg import pq, sql

        statements = [
            sql.SQL("UNLISTEN {}").format(sql.Identifier(c)) for c in given.channels - self._channels
        ]
        statements += [
            sql.SQL("LISTEN {}").format(sql.Identifier(c)) for c in self._channels - given.channels
        ]
        import anyio

        idle = not conn.autocommit and conn.info.transaction_status == pq.TransactionStatus.IDLE
        try:
            with anyio.fail_after(_LISTEN_TIMEOUT):
                async with conn.cursor() as cur:
                    for statement in statements:
                        await cur.execute(statement)
                if idle:
                    await conn.commit()  # LISTEN takes effect at commit
        except (Exception, TimeoutError) as exc:
            if not (isinstance(exc, TimeoutError) or self._driver.is_driver_error(exc)):
                raise
            # the new connection is probably broken already: its next call fails over again, and retries
            logger.warning("re-issuing LISTEN on a new connection failed: %s", type(exc).__name__)
            if idle and not self._driver.is_closed(conn):
                with anyio.move_on_after(_LISTEN_TIMEOUT):
                    try:
                        await conn.rollback()
                    except Exception as rollback_exc:
                        logger.debug("rollback after a failed LISTEN: %s", type(rollback_exc).__name__)
            return
        given.channels = set(self._channels)


def _call_adapters(conn: Any, method: str, args: tuple[Any, ...]) -> Any:
    target = conn.adapters
    if method == "types.add":
        return target.types.add(*args)
    return getattr(target, method)(*args)
