"""The plugin service: the state every plugin of one connection shares.

Plugins must read shared state (current connection and host, hosts, host
list provider, dialects) from here each time they need it, never keep copies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from ._allowed_hosts import AllowedHosts
from ._carry_over import CarryOver, ConnectionChange
from ._pipeline import PluginManager
from ._session_state import SessionState
from .dialects import DatabaseDialect, detect_dialect, get_dialect, initial_dialect
from .dialects._topology import TopologyAwareDialect
from .drivers import DriverDialect
from .events import ConnectionEvent, HostEvent, OldConnectionSuggestedAction
from .host_list_provider import HostListProvider
from .hostinfo import HostAvailability, HostInfo, HostRole
from .properties import Properties, WrapperProperties
from .topology import RdsHostListProvider

if TYPE_CHECKING:
    from .plugin import Plugin

__all__ = ["PluginService"]

logger = logging.getLogger(__name__)

_AVAILABILITY_TTL = 300.0
#: Upper bound for rolling back the old connection of a switch (it is aborted after).
_ROLLBACK_TIMEOUT = 2.0
#: host url -> (availability, when set). Shared by every connection in the process.
_availability: dict[str, tuple[HostAvailability, float]] = {}
#: (host url, user) -> detected dialect code, so later connections skip detection.
_known_dialects: dict[tuple[str, str | None], str] = {}


class PluginService:
    """Shared state and services for the plugins of one connection."""

    def __init__(
        self,
        props: Properties,
        driver_dialect: DriverDialect,
        target_driver_func: Callable[..., Awaitable[Any]],
        initial_host: HostInfo,
    ) -> None:
        self._props = props
        self._driver_dialect = driver_dialect
        self._target_driver_func = target_driver_func
        self._initial_host = initial_host
        forced = WrapperProperties.DIALECT.get(props)
        self._dialect_forced = forced is not None
        self._database_dialect = initial_dialect(driver_dialect, forced)
        #: The driver connection the proxy currently stands for (a plain attribute: plugins read it on
        #: every call; only :meth:`set_current_connection` changes it).
        self.current_connection: Any = None
        self._current_host: HostInfo | None = None
        self._hosts: tuple[HostInfo, ...] = ()
        self.session_state = SessionState.from_props(props)
        #: what the application set through the proxy, applied to each later driver connection
        self.carry_over = CarryOver(driver_dialect)
        self._host_list_provider: HostListProvider = self._provider_for(self._database_dialect)
        self._provider_is_static = True
        #: the application closed the connection: nothing may open or adopt a connection for it any more
        self.closed = False
        #: the instances this connection may use (set by the custom_endpoint plugin; None: all of them)
        self.allowed_hosts: AllowedHosts | None = None
        if initial_host.port is None:
            initial_host.port = self._database_dialect.default_port
        #: the connection's plugins and pipelines (made last: each plugin is made with the service complete)
        self.manager = PluginManager(self, props, driver_dialect.network_bound_methods)

    # --- plain state ------------------------------------------------------------------------

    @property
    def props(self) -> Properties:
        """The connection's properties."""
        return self._props

    @property
    def driver_dialect(self) -> DriverDialect:
        """The driver dialect."""
        return self._driver_dialect

    @property
    def database_dialect(self) -> DatabaseDialect:
        """The database dialect (refined once connected)."""
        return self._database_dialect

    @property
    def target_driver_func(self) -> Callable[..., Awaitable[Any]]:
        """The driver's connect function."""
        return self._target_driver_func

    @property
    def plugins(self) -> list[Plugin]:
        """The connection's plugins, in chain order."""
        return self.manager.plugins

    @property
    def current_host_info(self) -> HostInfo | None:
        """The host of the current connection."""
        return self._current_host

    @property
    def topology_provider(self) -> RdsHostListProvider | None:
        """The host list provider of the cluster's topology, when this connection has one (None: a server
        without a topology, or a dialect not yet known to have one)."""
        provider = self._host_list_provider
        if isinstance(provider, RdsHostListProvider) and provider.supports_topology:
            return provider
        return None

    @property
    def initial_connection_host_info(self) -> HostInfo:
        """The host the application asked for."""
        return self._initial_host

    @property
    def host_list_provider(self) -> HostListProvider:
        """Where hosts come from."""
        return self._host_list_provider

    @host_list_provider.setter
    def host_list_provider(self, provider: HostListProvider) -> None:
        self._host_list_provider = provider
        self._provider_is_static = False

    def is_static_host_list_provider(self) -> bool:
        """Whether hosts come only from the connection properties."""
        return self._provider_is_static

    def permits(self, host: HostInfo) -> bool:
        """Whether this connection may use ``host`` (a custom endpoint's members only, when it has one)."""
        allowed = self.allowed_hosts
        return allowed is None or allowed.permits(host)

    def permitted(self, hosts: Iterable[HostInfo]) -> list[HostInfo]:
        """The hosts of ``hosts`` this connection may use, in order (see :meth:`permits`)."""
        allowed = self.allowed_hosts
        return list(hosts) if allowed is None else [h for h in hosts if allowed.permits(h)]

    @property
    def hosts(self) -> list[HostInfo]:
        """The cluster's hosts this connection may use, with their latest known availability."""
        now = time.monotonic()
        out = []
        for host in self.permitted(self._hosts):
            known = _availability.get(host.url)
            if known is not None and now - known[1] < _AVAILABILITY_TTL:
                host.availability = known[0]
            out.append(host)
        return out

    @property
    def is_in_transaction(self) -> bool:
        """Whether the current connection has a transaction open."""
        conn = self.current_connection
        return conn is not None and self._driver_dialect.is_in_transaction(conn)

    # --- connections ------------------------------------------------------------------------

    async def connect(
        self, host_info: HostInfo, props: Properties | None = None, plugin_to_skip: Plugin | None = None
    ) -> Any:
        """Open a connection to ``host_info`` through the connect pipeline."""
        return await self.manager.connect(
            self._target_driver_func,
            self._driver_dialect,
            host_info,
            props or self._props,
            False,
            plugin_to_skip,
        )

    async def connect_within(
        self,
        host_info: HostInfo,
        limit: float,
        props: Properties | None = None,
        plugin_to_skip: Plugin | None = None,
    ) -> Any:
        """:meth:`connect`, ``TimeoutError`` after ``limit`` seconds.

        The timeout runs in the caller's task (not ``asyncio.wait_for``, whose inner task can finish with a
        connection that a cancelled caller then never sees: Python < 3.12 drops it, open): whatever
        ends the connect, a connection the pipeline opened is either returned or closed.
        """
        with anyio.fail_after(limit):
            return await self.connect(host_info, props, plugin_to_skip)

    async def force_connect(
        self, host_info: HostInfo, props: Properties | None = None, plugin_to_skip: Plugin | None = None
    ) -> Any:
        """Open a connection to ``host_info`` through the force-connect pipeline."""
        return await self.manager.force_connect(
            self._target_driver_func,
            self._driver_dialect,
            host_info,
            props or self._props,
            False,
            plugin_to_skip,
        )

    def mark_closed(self) -> None:
        """The application closed the connection: every later call raises the driver's closed error,
        and no plugin may put a connection behind the proxy again."""
        self.closed = True
        self.manager.close()

    def closed_error(self, in_flight: bool = False) -> Exception:
        """The driver's "connection is closed" error (``in_flight``: for a call the close interrupted)."""
        return self._driver_dialect.closed_error(in_flight)

    async def set_current_connection(
        self,
        conn: Any,
        host_info: HostInfo,
        plugin_to_skip: Plugin | None = None,
        transfer_read_only: bool = True,
    ) -> None:
        """Make ``conn`` the connection the proxy stands for; dispose the old one unless kept.

        The session state goes with it (see :mod:`awsasyncwrap._session_state`): the settings the
        application made (read-only too unless ``transfer_read_only`` is False: a read/write switch
        sets it itself) and the appliers not yet run on ``conn``; the old connection's transaction,
        if any, is rolled back (``rollback_on_switch``). Then ``conn`` gets what the application set
        on the driver connection through the proxy (:attr:`carry_over`). After the application closed
        the proxy, ``conn`` is disposed of and the closed error raised.
        """
        if self.closed and conn is not self.current_connection:
            await self.dispose(conn)
            raise self.closed_error(in_flight=True)
        old = self.current_connection
        state = self.session_state
        if old is None:
            await state.run_appliers(conn, self._driver_dialect)
            self.current_connection = conn
            self._current_host = host_info
            await self.manager.notify_connection_changed({ConnectionEvent.INITIAL_CONNECTION}, plugin_to_skip)
            return
        if old is conn:
            self._current_host = host_info
            return
        await state.apply_to(conn, self._driver_dialect, transfer_read_only)
        await self.carry_over.apply(ConnectionChange(conn, old, host_info))
        try:
            with anyio.fail_after(_ROLLBACK_TIMEOUT):
                await state.rollback_if_in_transaction(old, self._driver_dialect)
        except Exception as exc:  # the old connection is being left: its fate is decided below
            logger.debug("rolling back the replaced connection failed: %s", type(exc).__name__)
            self._driver_dialect.abort(old)
        if self.closed:  # the application closed the proxy meanwhile
            await self.dispose(conn)
            raise self.closed_error(in_flight=True)
        self.current_connection = conn
        self._current_host = host_info
        action = await self.manager.notify_connection_changed(
            {ConnectionEvent.CONNECTION_OBJECT_CHANGED}, plugin_to_skip
        )
        if action is not OldConnectionSuggestedAction.PRESERVE and not self._driver_dialect.is_closed(old):
            await self.dispose(old)

    async def dispose(self, conn: Any) -> None:
        """Close a connection the wrapper no longer needs; a dead one is aborted, not awaited."""
        driver = self._driver_dialect
        try:
            driver.abort(conn)
            await driver.close(conn)
        except Exception as exc:
            logger.debug("closing a replaced connection failed: %s", type(exc).__name__)
        except BaseException:  # cancelled while closing: free it without a word to the server
            driver.close_now(conn)
            raise

    async def update_dialect(self, conn: Any) -> None:
        """Refine the database dialect by asking the server; switch the host list provider if needed."""
        if self._dialect_forced:
            return
        url = self._initial_host.url
        # per user too: detection reads catalog views and functions a user may not be allowed to see
        key = (url, WrapperProperties.USER.get(self._props))
        known = _known_dialects.get(key)
        dialect = (
            get_dialect(known)
            if known
            else await detect_dialect(self._database_dialect, conn, self._driver_dialect)
        )
        _known_dialects[key] = dialect.code
        if dialect is not self._database_dialect:
            logger.debug("database dialect of %s: %s", url, dialect.code)
            self._database_dialect = dialect
            if self._provider_is_static:
                self._host_list_provider = self._provider_for(dialect)

    def _provider_for(self, dialect: DatabaseDialect) -> HostListProvider:
        """The host list provider ``dialect`` calls for: the cluster's topology when it has one."""
        if isinstance(dialect, TopologyAwareDialect):
            return RdsHostListProvider(self, self._props, dialect)
        return dialect.create_host_list_provider(self, self._props)

    # --- hosts --------------------------------------------------------------------------------

    async def refresh_host_list(self, connection: Any = None) -> None:
        """Update the hosts from the provider (cached), through the ``refresh_host_list`` pipeline."""
        await self.manager.refresh_host_list(False, partial(self._refresh, False, connection))

    async def force_refresh_host_list(self, connection: Any = None) -> None:
        """Update the hosts from the provider, read anew, through the ``refresh_host_list`` pipeline."""
        await self.manager.refresh_host_list(True, partial(self._refresh, True, connection))

    async def _refresh(self, forced: bool, connection: Any) -> None:
        provider = self._host_list_provider
        conn = connection or self.current_connection
        await self.apply_hosts(await (provider.force_refresh(conn) if forced else provider.refresh(conn)))

    async def apply_hosts(self, new_hosts: Iterable[HostInfo]) -> None:
        """Replace the hosts and notify plugins of what changed."""
        new = tuple(new_hosts)
        changes = host_changes(self._hosts, new)
        self._hosts = new
        if changes:
            await self.manager.notify_host_list_changed(changes)

    def set_availability(self, host_aliases: Iterable[str], availability: HostAvailability) -> None:
        """Record that the host known by these names is (un)available."""
        now = time.monotonic()
        for alias in host_aliases:
            _availability[alias] = (availability, now)
        for host in self._hosts:
            if host.url in host_aliases or host.aliases & set(host_aliases):
                host.availability = availability

    async def identify_connection(self, connection: Any = None) -> HostInfo | None:
        """The host ``connection`` (default: the current one) is on."""
        return await self._host_list_provider.identify_connection(connection or self.current_connection)

    async def get_host_role(self, connection: Any = None) -> HostRole:
        """Writer or reader, asked of the server."""
        return await self._host_list_provider.get_host_role(connection or self.current_connection)

    def accepts_strategy(self, role: HostRole, strategy: str) -> bool:
        """Whether a plugin can pick hosts by ``strategy``."""
        return self.manager.accepts_strategy(role, strategy)

    def get_host_info_by_strategy(
        self, role: HostRole, strategy: str, host_list: list[HostInfo] | None = None
    ) -> HostInfo:
        """A host of ``role`` picked by ``strategy``."""
        return self.manager.get_host_info_by_strategy(role, strategy, host_list)

    # --- errors -------------------------------------------------------------------------------

    def is_network_error(self, exc: BaseException, conn: Any = None) -> bool:
        """Whether ``exc`` means the server can no longer be reached (never cancellation)."""
        return self._database_dialect.is_network_error(exc, self._driver_dialect, conn)

    def is_login_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` is an authentication failure."""
        return self._database_dialect.is_login_error(exc, self._driver_dialect)

    def is_read_only_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` says a write reached a reader."""
        return self._database_dialect.is_read_only_error(exc, self._driver_dialect)

    async def release(self) -> None:
        """The connection closed: release the provider and every plugin's resources."""
        try:
            await self._host_list_provider.release()
        finally:
            await self.manager.release_resources()


def host_changes(old: Iterable[HostInfo], new: Iterable[HostInfo]) -> dict[str, set[HostEvent]]:
    """What changed between two host lists, keyed by host url."""
    before = {h.url: h for h in old}
    after = {h.url: h for h in new}
    changes: dict[str, set[HostEvent]] = {}
    for url, host in after.items():
        prev = before.get(url)
        if prev is None:
            changes[url] = {HostEvent.HOST_ADDED}
            continue
        events: set[HostEvent] = set()
        if prev.role != host.role:
            events.add(
                HostEvent.CONVERTED_TO_WRITER
                if host.role is HostRole.WRITER
                else HostEvent.CONVERTED_TO_READER
            )
        if prev.availability != host.availability:
            events.add(
                HostEvent.WENT_UP if host.availability is HostAvailability.AVAILABLE else HostEvent.WENT_DOWN
            )
        if events:
            events.add(HostEvent.HOST_CHANGED)
            changes[url] = events
    for url in before.keys() - after.keys():
        changes[url] = {HostEvent.HOST_DELETED}
    return changes
