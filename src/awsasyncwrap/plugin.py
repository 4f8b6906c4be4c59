"""The plugin API: :class:`Plugin` and :class:`PluginFactory`.

A plugin wraps calls of the connection and its cursors. Every pipeline step
is a coroutine; a plugin that only cares about some calls lists them in
:attr:`Plugin.subscribed_methods` and pays nothing on the others. The default
implementations just await the next step.

Method names are ``"Connection.<name>"`` and ``"Cursor.<name>"`` (e.g.
``"Cursor.execute"``); pipelines subscribe by their own key (``"connect"``,
``"force_connect"``, ``"notify_connection_changed"``,
``"notify_host_list_changed"``, ``"init_host_provider"``,
``"refresh_host_list"``, ``"accepts_strategy"``). ``"*"`` subscribes to every pipeline and every
network-bound method; calls that only read local state (e.g. fetching from a
result psycopg already holds) run through plugins only when named explicitly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, TypeVar

from .events import ConnectionEvent, HostEvent, OldConnectionSuggestedAction
from .hostinfo import HostInfo, HostRole

if TYPE_CHECKING:
    from .drivers import DriverDialect
    from .host_list_provider import HostListProviderService
    from .plugin_service import PluginService
    from .properties import Properties

__all__ = ["ConnectFunc", "ExecuteFunc", "Plugin", "PluginFactory"]

T = TypeVar("T")
ConnectFunc = Callable[[], Awaitable[Any]]
ExecuteFunc = Callable[[], Awaitable[T]]


class Plugin:
    """Base class of every plugin; override only the steps you need."""

    @property
    def subscribed_methods(self) -> AbstractSet[str]:
        """The methods and pipelines this plugin takes part in (read once per connection).

        Subclasses override this property or simply assign a set as a class attribute.
        """
        return set()

    async def connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial_connection: bool,
        connect_func: ConnectFunc,
    ) -> Any:
        """Open a connection to ``host_info``; call ``connect_func`` to go on down the chain."""
        return await connect_func()

    async def force_connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial_connection: bool,
        connect_func: ConnectFunc,
    ) -> Any:
        """Like :meth:`connect`, for connections that must bypass pools and caches."""
        return await connect_func()

    async def execute(
        self, target: object, method_name: str, execute_func: ExecuteFunc[T], *args: Any, **kwargs: Any
    ) -> T:
        """Wrap one call of ``target.<method>``; ``execute_func()`` runs the rest of the chain."""
        return await execute_func()

    async def notify_connection_changed(self, changes: set[ConnectionEvent]) -> OldConnectionSuggestedAction:
        """The current connection changed; say what to do with the old one."""
        return OldConnectionSuggestedAction.NO_OPINION

    async def notify_host_list_changed(self, changes: dict[str, set[HostEvent]]) -> None:
        """Hosts of the topology changed (keyed by host url)."""

    async def init_host_provider(
        self,
        props: Properties,
        host_list_provider_service: HostListProviderService,
        init_host_provider_func: Callable[[], Awaitable[None]],
    ) -> None:
        """Choose the host list provider; call ``init_host_provider_func`` to go on."""
        await init_host_provider_func()

    async def refresh_host_list(self, forced: bool, refresh_func: Callable[[], Awaitable[None]]) -> None:
        """The wrapper updates the host list (``forced``: read anew, not cached); ``refresh_func`` does it."""
        await refresh_func()

    def accepts_strategy(self, role: HostRole, strategy: str) -> bool:
        """Whether :meth:`get_host_info_by_strategy` can pick a host with this strategy."""
        return False

    def get_host_info_by_strategy(
        self, role: HostRole, strategy: str, host_list: list[HostInfo] | None = None
    ) -> HostInfo:
        """Pick a host of ``role`` by ``strategy``."""
        raise NotImplementedError(f"{type(self).__name__} does not select hosts")

    async def release_resources(self) -> None:
        """The connection closes; free what this plugin holds for it."""


class PluginFactory:
    """Creates one plugin instance per connection."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        """A plugin for the connection served by ``plugin_service``."""
        raise NotImplementedError
