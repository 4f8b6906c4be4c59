"""The switching engine shared by ``read_write_splitting`` and ``srw``.

``set_read_only(True)`` makes a reader connection current, ``set_read_only(False)`` a writer
connection; both stay cached (or, with internal pools, go back to their host's pool as soon as they
stop being current) so that switching back and forth opens nothing new. The old connection is kept
by answering PRESERVE to the connection-changed notification of our own switch. A connection
replaced by someone else (failover) is forgotten; cached connections whose host changed role or went
away are dropped before the next switch. Subclasses say where the writer and the readers are.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import anyio

from ..._background import registry
from ..._deadline import close_quietly
from ...errors import FailoverError, FailoverSuccessError
from ...events import ConnectionEvent, HostEvent, OldConnectionSuggestedAction
from ...hostinfo import HostInfo, HostRole
from ...plugin import ExecuteFunc, Plugin, T
from ...properties import Properties
from ..settings.read_write_splitting import SwitchingSettings
from ._plan import Step, after_no_reader, cached_fits, events_of, gone_urls, next_step
from ._pool import HostPool, pool_key
from ._tracker import tracker
from .errors import ReadWriteSplittingError

if TYPE_CHECKING:
    from ...plugin_service import PluginService

__all__ = ["Held", "SwitchingPlugin"]

logger = logging.getLogger(__name__)

#: Upper bound for putting a connection going back to its pool to its pristine settings.
_RESET_TIMEOUT = 2.0


class Held:
    """A driver connection read/write splitting holds, its host, and the pool it returns to (if any)."""

    __slots__ = ("conn", "host", "pool")

    def __init__(self, conn: Any, host: HostInfo, pool: HostPool | None = None) -> None:
        self.conn = conn
        self.host = host
        self.pool = pool

    def __repr__(self) -> str:
        return f"<Held {self.host.url}{' pooled' if self.pool is not None else ''}>"


class SwitchingPlugin(Plugin):
    """Keeps a writer and a reader connection and makes one of them current on ``set_read_only``."""

    subscribed_methods = frozenset(
        {
            "Connection.set_read_only",
            "Connection.close",
            "notify_connection_changed",
            "notify_host_list_changed",
        }
    )

    def __init__(self, service: PluginService, props: Properties) -> None:
        self._service = service
        self._props = props
        settings = SwitchingSettings.from_props(props)
        self._fallback = settings.fallback_to_writer
        self._use_pools = settings.pools_enabled
        self._pool_size = settings.pool_size
        self._pool_idle = settings.pool_idle_timeout
        self._connect_timeout = settings.connect_timeout
        self._pools: dict[Hashable, HostPool] = {}
        self._pool_by_url: dict[str, HostPool] = {}
        self._writer: Held | None = None
        self._reader: Held | None = None
        self._known_current: Any = None
        self._switching = False
        #: whether cached connections must be checked against the hosts again (they changed)
        self._recheck = True
        self._lock = asyncio.Lock()
        #: why the last attempt to reach a reader failed (for messages)
        self._reader_error: BaseException | None = None

    # --- what subclasses decide ----------------------------------------------------------------

    async def _prepare(self) -> None:
        """Before a switch: bring what the plugin knows of the hosts up to date (set ``_recheck`` if
        they changed)."""

    async def _classify(self, conn: Any, may_query: bool) -> tuple[HostRole, HostInfo]:
        """Role and host of a connection the plugin did not open (initial one, failover's)."""
        raise NotImplementedError

    async def _open_writer(self) -> Held:
        """A new connection to the writer (raise when impossible)."""
        raise NotImplementedError

    async def _open_reader(self) -> Held | None:
        """A new connection to a reader, or None when no reader can be reached."""
        raise NotImplementedError

    def _is_valid(self, held: Held, role: HostRole) -> bool:
        """Whether a cached connection may still serve ``role``."""
        return not self._service.driver_dialect.is_closed(held.conn)

    # --- state, for tests and introspection ----------------------------------------------------

    @property
    def writer_connection(self) -> Any:
        """The cached writer driver connection (None if none)."""
        return self._writer.conn if self._writer is not None else None

    @property
    def reader_connection(self) -> Any:
        """The cached reader driver connection (None if none)."""
        return self._reader.conn if self._reader is not None else None

    @property
    def pools(self) -> list[HostPool]:
        """The internal pools this connection used."""
        return list(self._pools.values())

    # --- pipeline ------------------------------------------------------------------------------

    async def execute(
        self, target: object, method_name: str, execute_func: ExecuteFunc[T], *args: Any, **kwargs: Any
    ) -> T:
        if method_name == "Connection.set_read_only":
            return await self._set_read_only(args[0] if args else False, execute_func)
        if method_name == "Connection.close" and await self._return_current_to_pool():
            return None  # type: ignore[return-value]
        return await execute_func()

    async def notify_connection_changed(self, changes: set[ConnectionEvent]) -> OldConnectionSuggestedAction:
        if self._switching:
            return OldConnectionSuggestedAction.PRESERVE  # our own switch: the old one stays cached
        # someone else replaced the connection (failover): the old one is disposed, forget it
        self._recheck = True
        new = self._service.current_connection
        old, self._known_current = self._known_current, new
        if old is not None and old is not new:
            for held in self._slots():
                if held.conn is old:
                    self._forget(held)
        return OldConnectionSuggestedAction.NO_OPINION

    async def notify_host_list_changed(self, changes: dict[str, set[HostEvent]]) -> None:
        self._recheck = True
        current = self._service.current_connection
        for role, held in self._roles():
            if held.conn is current:
                continue
            events = events_of(held.host, changes)
            if not cached_fits(role, events):
                logger.debug("dropping cached %s connection to %s: %s", role.value, held.host.url, events)
                self._forget(held)
                await close_quietly(self._service.driver_dialect, held.conn)
        gone = gone_urls(changes)
        if gone:
            for service in registry().services():
                if isinstance(service, HostPool) and service.url in gone:
                    await service.clear()

    async def release_resources(self) -> None:
        current = self._service.current_connection
        try:
            for held in self._slots():
                self._forget(held)
                if held.conn is not current:
                    await self._release(held)
                else:
                    tracker().untrack(held.conn)
        finally:
            pools, self._pools = self._pools, {}
            self._pool_by_url.clear()
            reg = registry()
            for key in pools:
                reg.release(key, self._pool_idle)

    # --- switching -----------------------------------------------------------------------------

    async def _set_read_only(self, value: Any, execute_func: ExecuteFunc[T]) -> T:
        read_only = bool(value)
        async with self._lock:
            await self._switch(read_only)
            if self._already(value):
                return None  # type: ignore[return-value]
            try:
                return await execute_func()
            except FailoverSuccessError:
                # the connection failed over while the setting was applied: place it again, once
                logger.debug("failover during set_read_only(%s); switching again", read_only)
                await self._switch(read_only)
                return await execute_func()
            except FailoverError:
                await self._drop_cached()
                raise

    def _already(self, value: Any) -> bool:
        """Whether the (new) current connection already has this read-only setting: no need to send it
        again (aiomysql would spend a round trip on it)."""
        service = self._service
        return bool(service.driver_dialect.get_read_only(service.current_connection) == value)

    async def _switch(self, read_only: bool) -> None:
        service = self._service
        driver = service.driver_dialect
        current = service.current_connection
        if current is None or driver.is_closed(current):
            raise ReadWriteSplittingError("set_read_only() on a closed connection: open a new connection.")
        in_tx = service.is_in_transaction
        if not in_tx:  # no query of ours inside the application's transaction
            await self._prepare()
        here = await self._adopt(current, may_query=not in_tx)
        await self._drop_invalid(current)
        cached = self._reader if read_only else self._writer
        step = next_step(read_only, here is self._reader, in_tx, cached is not None)
        if step is Step.STAY:
            return
        if step is Step.REFUSE:
            where = "a reader" if read_only else "the writer"
            raise ReadWriteSplittingError(
                f"set_read_only({read_only}) would move the connection to {where}, but a transaction is "
                "open on the current one: commit or roll back first, then call set_read_only()."
            )
        if step is Step.USE_CACHED and cached is not None and await self._make_current(cached, here):
            return
        if read_only:  # nothing cached, or the cached one failed: a new one
            await self._to_reader(here)
        else:
            await self._to_writer(here)

    async def _adopt(self, current: Any, may_query: bool) -> Held:
        """The held entry of the current connection, classifying it if the plugin did not open it."""
        self._known_current = current
        for held in self._slots():
            if held.conn is current:
                return held
        role, host = await self._classify(current, may_query)
        held = Held(current, host)
        if role is HostRole.READER:
            old, self._reader = self._reader, held
        else:
            old, self._writer = self._writer, held
        if old is not None:  # a leftover of the same role (e.g. from before a failover)
            await self._release(old)
        tracker().track(host, current, self._service.driver_dialect)
        logger.debug("current connection is on %s (%s)", host.url, role.value)
        return held

    async def _drop_invalid(self, current: Any) -> None:
        """Drop cached connections that are closed or (if the hosts changed) no longer fit their role."""
        full, self._recheck = self._recheck, False
        driver = self._service.driver_dialect
        for role, held in self._roles():
            if held.conn is current:
                continue
            if driver.is_closed(held.conn) or (full and not self._is_valid(held, role)):
                logger.debug("dropping cached %s connection to %s", role.value, held.host.url)
                self._forget(held)
                await close_quietly(self._service.driver_dialect, held.conn)

    async def _drop_cached(self) -> None:
        current = self._service.current_connection
        for held in self._slots():
            if held.conn is not current:
                self._forget(held)
                await close_quietly(self._service.driver_dialect, held.conn)

    async def _to_reader(self, here: Held) -> None:
        held = await self._open_reader()
        if held is None:
            reason = _reason(self._reader_error)
            if after_no_reader(self._fallback) is Step.FAIL:
                raise ReadWriteSplittingError(
                    f"set_read_only(True): no reader could be reached{reason}; the connection stays on "
                    f"the writer {here.host.url}. Set rw_fallback_to_writer=true to read from the writer."
                ) from self._reader_error
            logger.warning(
                "set_read_only(True): no reader could be reached%s; staying on the writer %s",
                reason,
                here.host.url,
            )
            return
        self._reader = held
        if not await self._make_current(held, here):
            raise ReadWriteSplittingError(f"set_read_only(True): the new reader {held.host.url} failed.")

    async def _to_writer(self, here: Held) -> None:
        try:
            held = await self._open_writer()
        except ReadWriteSplittingError:
            raise
        except Exception as exc:
            raise ReadWriteSplittingError(
                f"set_read_only(False): could not connect to the writer ({type(exc).__name__}); the "
                f"connection stays on {here.host.url}."
            ) from exc
        self._writer = held
        if not await self._make_current(held, here):
            raise ReadWriteSplittingError(f"set_read_only(False): the new writer {held.host.url} failed.")

    async def _make_current(self, held: Held, here: Held) -> bool:
        """Make ``held`` current (session settings carried over); False (and dropped) if it failed."""
        service = self._service
        try:
            # the session state goes with the switch; read-only is set by the call itself
            await service.session_state.apply_to(held.conn, service.driver_dialect, read_only=False)
        except Exception as exc:
            if not service.driver_dialect.is_driver_error(exc):
                raise
            logger.debug("cached connection to %s unusable: %s", held.host.url, type(exc).__name__)
            self._forget(held)
            await close_quietly(service.driver_dialect, held.conn)
            return False
        self._switching = True
        try:
            await service.set_current_connection(held.conn, held.host, transfer_read_only=False)
        finally:
            self._switching = False
        self._known_current = held.conn
        logger.debug("switched from %s to %s", here.host.url, held.host.url)
        if here.pool is not None:  # a pooled connection goes back as soon as it is not current
            self._forget(here)
            await self._release(here)
        return True

    # --- opening and giving back -----------------------------------------------------------------

    async def _open(self, host: HostInfo) -> Held:
        """A connection to ``host``: from its internal pool if enabled, else new (connect pipeline)."""
        service = self._service
        pool = self._pool_for(host) if self._use_pools else None
        conn = await pool.take() if pool is not None else None
        if conn is None:
            if self._connect_timeout:
                with anyio.fail_after(self._connect_timeout):
                    conn = await service.connect(host, self._props, plugin_to_skip=self)
            else:
                conn = await service.connect(host, self._props, plugin_to_skip=self)
            if pool is not None:
                pool.opened += 1
        tracker().track(host, conn, service.driver_dialect)
        return Held(conn, host, pool)

    def _pool_for(self, host: HostInfo) -> HostPool:
        pool = self._pool_by_url.get(host.url)
        if pool is not None and not pool.closed:
            return pool
        driver = self._service.driver_dialect
        key = pool_key(driver, host, self._props)
        pool = self._pools.get(key)
        if pool is None or pool.closed:
            if self._service.closed:  # a switch still in flight after close() acquires no pool
                raise self._service.closed_error(in_flight=True)
            size, idle = self._pool_size, self._pool_idle
            pool = registry().acquire(key, lambda: HostPool(host.url, driver, size, idle), HostPool)
            self._pools[key] = pool
        self._pool_by_url[host.url] = pool
        return pool

    async def _release(self, held: Held) -> None:
        """Done with a connection: back to its pool, or closed."""
        tracker().untrack(held.conn)
        if held.pool is not None:
            if not self._service.carry_over.release(held.conn):  # what it was given cannot be undone
                await close_quietly(self._service.driver_dialect, held.conn)
            elif await self._reset_for_pool(held):
                await held.pool.give_back(held.conn)
        else:
            await close_quietly(self._service.driver_dialect, held.conn)

    async def _reset_for_pool(self, held: Held) -> bool:
        """``reset_session_state_on_close``: a connection going back to its pool gets its pristine
        settings first (its transaction rolled back); False (and closed) if that failed."""
        service = self._service
        driver = service.driver_dialect
        state = service.session_state
        if driver.is_closed(held.conn) or not state.pristine:
            return True
        try:
            with anyio.fail_after(_RESET_TIMEOUT):
                if driver.is_in_transaction(held.conn):
                    await held.conn.rollback()
                await state.reset_driver_connection(held.conn, driver, read_only=False)
        except Exception as exc:
            logger.debug("pooled connection to %s not reset: %s", held.host.url, type(exc).__name__)
            await close_quietly(driver, held.conn)
            return False
        except BaseException:
            driver.close_now(held.conn)
            raise
        return True

    async def _return_current_to_pool(self) -> bool:
        """On close: a pooled current connection goes back to its pool instead of being closed."""
        current = self._service.current_connection
        for held in self._slots():
            if held.conn is current and held.pool is not None:
                self._forget(held)
                await self._release(held)
                return True
        return False

    def _forget(self, held: Held) -> None:
        if self._writer is held:
            self._writer = None
        if self._reader is held:
            self._reader = None
        tracker().untrack(held.conn)

    def _slots(self) -> list[Held]:
        return [h for h in (self._writer, self._reader) if h is not None]

    def _roles(self) -> list[tuple[HostRole, Held]]:
        out = []
        if self._writer is not None:
            out.append((HostRole.WRITER, self._writer))
        if self._reader is not None:
            out.append((HostRole.READER, self._reader))
        return out


def _reason(exc: BaseException | None) -> str:
    return f" (last error: {type(exc).__name__})" if exc is not None else ""
