"""``bg``: route connects and calls through a blue/green switchover.

Outside a switchover a call costs nothing: while :attr:`BlueGreenPlugin.quiet` holds, the plugin
subscribes to connects only, so no call chain contains it. The status service flips ``quiet``
(through :meth:`BlueGreenPlugin.on_status_change`) when the phase makes this connection's calls wait
(IN_PROGRESS) or move (blue connection after the switch); the plugin then subscribes to every
network-bound method and the connection's chains are rebuilt (:meth:`PluginManager.resubscribe`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..._background import registry
from ...errors import AwsConnectError, FailoverSuccessError, TransactionResolutionUnknownError
from ...hostinfo import HostInfo
from ...plugin import ConnectFunc, ExecuteFunc, Plugin, PluginFactory
from ..failover.errors import driver_error_class
from ..settings import blue_green as P
from ._service import BlueGreenStatusService, Settings, substitute
from ._state import Role, Route

if TYPE_CHECKING:
    from ...drivers import DriverDialect
    from ...plugin_service import PluginService
    from ...properties import Properties

__all__ = [
    "BlueGreenConnectTimeoutError",
    "BlueGreenPlugin",
    "BlueGreenPluginFactory",
    "BlueGreenRejectedError",
    "status_services",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Network-bound methods never held: closing does not talk to the database about data.
_UNROUTED = frozenset({"Connection.close"})


class BlueGreenConnectTimeoutError(AwsConnectError, TimeoutError):
    """A connect waited ``bg_connect_timeout_ms`` for a blue/green switchover to leave IN_PROGRESS."""


class BlueGreenRejectedError(AwsConnectError):
    """A connect to a green host name after the switchover, before the green names left DNS."""


def status_services() -> list[BlueGreenStatusService]:
    """Every live blue/green status service of the running event loop."""
    return [s for s in registry().services() if isinstance(s, BlueGreenStatusService) and not s.closed]


class BlueGreenPlugin(Plugin):
    """Blue/green switchover support for one connection (see ``docs/blue_green.md``)."""

    def __init__(self, service: PluginService, props: Properties) -> None:
        self._plugin_service = service
        self._props = props
        self._bg_id = str(P.BG_ID.value(props)).strip().lower()
        self._connect_timeout = P.BG_CONNECT_TIMEOUT_MS.seconds(props)
        methods = service.driver_dialect.network_bound_methods - _UNROUTED
        self._quiet_subscribed = {"connect", "notify_connection_changed"}
        self._routing_subscribed = {*methods, *self._quiet_subscribed}
        self._status: BlueGreenStatusService | None = None
        self._key = ("bg_status", self._bg_id)
        self._disposal = 0.0
        #: the driver connection this plugin opened last, the host name it was opened for, its side
        self._conn: Any = None
        self._conn_host: str | None = None
        self._conn_side: Role | None = None
        self._side_known = False
        #: True while calls go straight through (read on every call)
        self.quiet = True

    @property
    def subscribed_methods(self) -> set[str]:
        return self._quiet_subscribed if self.quiet else self._routing_subscribed

    # -- calls ---------------------------------------------------------------------------------

    def execute(  # type: ignore[override]  # returns the chain's awaitable: no frame of its own when quiet
        self, target: object, method_name: str, execute_func: ExecuteFunc[T], *args: Any, **kwargs: Any
    ) -> Awaitable[T]:
        if self.quiet:  # a call that entered its chain just before the switchover ended
            return execute_func()
        return self._routed(method_name, execute_func)

    async def _routed(self, method_name: str, execute_func: ExecuteFunc[T]) -> T:
        status = self._status
        while status is not None:
            route = status.state.execute_route(self._side(), time.monotonic())
            if route.kind == "suspend":
                await status.wait_change(route.until)
                continue
            if route.kind == "move":
                # a rollback, or a commit with no transaction open (a pool's or a context manager's
                # end-of-use call in autocommit), has nothing to run again on the new connection
                quiet = method_name == "Connection.rollback" or (
                    method_name == "Connection.commit" and not self._plugin_service.is_in_transaction
                )
                moved = await self._move(status, raise_after=not quiet)
                if moved:
                    return cast("T", None)
            break
        return await execute_func()

    async def _move(self, status: BlueGreenStatusService, *, raise_after: bool) -> bool:
        """Reopen a blue connection on green after the switch; the caller must rerun its statement."""
        service = self._plugin_service
        host = service.current_host_info
        name = self._conn_host or (host.host if host else None)
        green = status.state.green_for(name) if name else None
        ip = status.state.ips.get(green) if green else None
        in_tx = service.is_in_transaction
        if host is None or ip is None:  # nothing known to go to: let the call find out
            self._conn_side = Role.TARGET
            self._side_known = True
            self.on_status_change()
            return False
        target, props = substitute(service.driver_dialect, host, ip, service.props)
        conn = await service.connect(target, props, self)
        self._note(conn, host.host, Role.TARGET)
        await service.set_current_connection(conn, host, self)
        self.on_status_change()
        logger.info("blue/green %s: connection moved from blue to green %s", self._bg_id, green)
        if not raise_after:
            return True
        code = service.driver_dialect.code
        base = TransactionResolutionUnknownError if in_tx else FailoverSuccessError
        raise driver_error_class(base, code)(
            "The blue/green switchover moved this connection to the green cluster; "
            + ("redo the whole transaction." if in_tx else "the statement was not run: run it again.")
        )

    # -- connects ------------------------------------------------------------------------------

    async def connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial_connection: bool,
        connect_func: ConnectFunc,
    ) -> Any:
        status = self._acquire(host_info, props)
        deadline = time.monotonic() + self._connect_timeout
        while True:
            route = status.state.connect_route(host_info.host, time.monotonic())
            if route.kind != "suspend":
                break
            now = time.monotonic()
            if now >= deadline:
                raise BlueGreenConnectTimeoutError(
                    f"Blue/green switchover of deployment {self._bg_id!r} still in progress after "
                    f"bg_connect_timeout_ms={self._connect_timeout * 1000:.0f}; "
                    f"connect to {host_info.host} gave up."
                )
            until = deadline if route.until is None else min(deadline, route.until)
            await status.wait_change(until)
        if route.kind == "reject":
            raise BlueGreenRejectedError(
                f"{host_info.host} is a green host name of a finished blue/green switchover: connect to the "
                "blue (original) names, which now reach the green cluster."
            )
        if route.kind == "substitute" and route.ip is not None:
            conn = await self._substituted(
                route, target_driver_func, driver_dialect, host_info, props, is_initial_connection
            )
            self._note(conn, host_info.host, route.side)
            return conn
        conn = await connect_func()
        self._note(conn, host_info.host, None)
        return conn

    async def _substituted(
        self,
        route: Route,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial: bool,
    ) -> Any:
        assert route.ip is not None
        target, sub_props = substitute(driver_dialect, host_info, route.ip, props)
        logger.debug("blue/green %s: connect to %s goes to %s", self._bg_id, host_info.host, route.ip)
        return await self._plugin_service.manager.connect(
            target_driver_func, driver_dialect, target, sub_props, is_initial, self
        )

    def _acquire(self, host_info: HostInfo, props: Properties) -> BlueGreenStatusService:
        status = self._status
        if status is not None and not status.closed:
            return status
        settings = Settings.from_props(props)
        service = self._plugin_service
        skip = self

        def connector(host: HostInfo, props: Properties) -> Awaitable[Any]:
            return service.force_connect(host, props, skip)

        status = registry().acquire(
            self._key,
            lambda: BlueGreenStatusService(self._bg_id, settings, service.driver_dialect, connector, props),
            BlueGreenStatusService,
        )
        self._status = status
        self._disposal = settings.disposal
        status.listen(self)
        status.start(host_info)
        return status

    # -- bookkeeping ---------------------------------------------------------------------------

    def _note(self, conn: Any, host: str, side: Role | None) -> None:
        self._conn, self._conn_host, self._conn_side, self._side_known = conn, host, side, side is not None
        self.on_status_change()

    def _side(self) -> Role | None:
        """Which side the current connection is on (None: not part of the deployment)."""
        status = self._status
        if status is None:
            return None
        service = self._plugin_service
        if service.current_connection is self._conn and self._conn is not None:
            if self._side_known:
                return self._conn_side
            return status.state.role_of(self._conn_host)
        host = service.current_host_info
        return status.state.role_of(host.host if host else None)

    def on_status_change(self) -> None:
        """Recompute :attr:`quiet` (called by the status service on every change; no I/O)."""
        status = self._status
        self._set_quiet(
            status is None or status.state.execute_route(self._side(), time.monotonic()).kind == "pass"
        )

    def _set_quiet(self, quiet: bool) -> None:
        if quiet is self.quiet:
            return
        self.quiet = quiet
        manager = self._plugin_service.manager
        if manager is not None:  # None only while the connection is still being built
            manager.resubscribe(self)

    async def notify_connection_changed(self, changes: set[Any]) -> Any:
        from ...events import OldConnectionSuggestedAction

        self.on_status_change()
        return OldConnectionSuggestedAction.NO_OPINION

    async def release_resources(self) -> None:
        if self._status is not None:
            self._status = None
            self._set_quiet(True)
            registry().release(self._key, self._disposal)


class BlueGreenPluginFactory(PluginFactory):
    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return BlueGreenPlugin(plugin_service, props)
