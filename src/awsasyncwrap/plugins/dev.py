"""``dev``: inject errors into calls and connects, for testing how an application copes.

Arm it globally with :class:`ExceptionSimulator` (every connection using the
``dev`` plugin sees it) or per connection through
``DeveloperPlugin.of(conn)``. Each armed error fires once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..plugin import ConnectFunc, ExecuteFunc, Plugin, PluginFactory

if TYPE_CHECKING:
    from ..drivers import DriverDialect
    from ..hostinfo import HostInfo
    from ..plugin_service import PluginService
    from ..properties import Properties

__all__ = ["DeveloperPlugin", "DeveloperPluginFactory", "ExceptionSimulator"]

T = TypeVar("T")
CallCallback = Callable[[str, tuple[Any, ...], dict[str, Any]], "BaseException | None"]
ConnectCallback = Callable[["HostInfo", "Properties", bool], "BaseException | None"]


class _Arms:
    """Armed errors and callbacks, for one connection or for all."""

    def __init__(self) -> None:
        self.next_call: tuple[BaseException, str] | None = None
        self.next_connect: BaseException | None = None
        self.call_callback: CallCallback | None = None
        self.connect_callback: ConnectCallback | None = None

    def raise_on_next_call(self, error: BaseException, method_name: str = "*") -> None:
        """Raise ``error`` on the next call of ``method_name`` (``"*"``: any network-bound call)."""
        self.next_call = (error, method_name)

    def raise_on_next_connect(self, error: BaseException) -> None:
        """Raise ``error`` on the next connection attempt."""
        self.next_connect = error

    def set_call_callback(self, callback: CallCallback | None) -> None:
        """Ask ``callback(method_name, args, kwargs)`` before each call; raise what it returns."""
        self.call_callback = callback

    def set_connect_callback(self, callback: ConnectCallback | None) -> None:
        """Ask ``callback(host_info, props, is_initial)`` before each connect; raise what it returns."""
        self.connect_callback = callback

    def clear(self) -> None:
        """Disarm everything."""
        self.__init__()  # type: ignore[misc]

    def take_call_error(
        self, method_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> BaseException | None:
        if self.next_call is not None:
            error, wanted = self.next_call
            if wanted in ("*", method_name):
                self.next_call = None
                return error
        return self.call_callback(method_name, args, kwargs) if self.call_callback else None

    def take_connect_error(
        self, host_info: HostInfo, props: Properties, is_initial: bool
    ) -> BaseException | None:
        if self.next_connect is not None:
            error, self.next_connect = self.next_connect, None
            return error
        return self.connect_callback(host_info, props, is_initial) if self.connect_callback else None


#: Errors armed for every connection that uses the ``dev`` plugin.
ExceptionSimulator = _Arms()


class DeveloperPlugin(Plugin):
    """Raises armed errors instead of running the call or the connect."""

    subscribed_methods = {"*"}

    def __init__(self, plugin_service: PluginService) -> None:
        self._service = plugin_service
        self.simulator = _Arms()

    @staticmethod
    def of(conn: Any) -> DeveloperPlugin:
        """The ``dev`` plugin of a wrapped connection (to arm errors for that connection only)."""
        for plugin in conn.plugin_service.plugins:
            if isinstance(plugin, DeveloperPlugin):
                return plugin
        raise LookupError("this connection does not use the 'dev' plugin")

    async def execute(
        self, target: object, method_name: str, execute_func: ExecuteFunc[T], *args: Any, **kwargs: Any
    ) -> T:
        error = self.simulator.take_call_error(
            method_name, args, kwargs
        ) or ExceptionSimulator.take_call_error(method_name, args, kwargs)
        if error is not None:
            raise error
        return await execute_func()

    async def connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial_connection: bool,
        connect_func: ConnectFunc,
    ) -> Any:
        error = self.simulator.take_connect_error(
            host_info, props, is_initial_connection
        ) or ExceptionSimulator.take_connect_error(host_info, props, is_initial_connection)
        if error is not None:
            raise error
        return await connect_func()

    force_connect = connect


class DeveloperPluginFactory(PluginFactory):
    """Creates :class:`DeveloperPlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return DeveloperPlugin(plugin_service)
