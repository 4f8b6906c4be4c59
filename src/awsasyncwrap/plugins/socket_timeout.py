"""``socket_timeout``: a bound on every network call, like a sync driver's socket timeout.

Added by itself when the ``socket_timeout`` property (seconds; aws-advanced-python-wrapper's name) is
set. A call still running after that long gets its connection aborted (socket shut down): the driver
raises its network error, which the plugins outside this one (host_monitoring, failover) handle like any
lost connection. The timer is a loop callback, no task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from .._deadline import abort_after
from ..plugin import ExecuteFunc, Plugin, PluginFactory
from .settings.socket_timeout import SOCKET_TIMEOUT

if TYPE_CHECKING:
    from ..plugin_service import PluginService
    from ..properties import Properties

__all__ = ["SocketTimeoutPlugin", "SocketTimeoutPluginFactory"]

T = TypeVar("T")


class SocketTimeoutPlugin(Plugin):
    """Aborts the connection of a network call that outlives ``socket_timeout``."""

    subscribed_methods = {"*"}

    def __init__(self, service: PluginService, props: Properties) -> None:
        self._service = service
        self._timeout = SOCKET_TIMEOUT.get(props)

    async def execute(
        self, target: object, method_name: str, execute_func: ExecuteFunc[T], *args: Any, **kwargs: Any
    ) -> T:
        timeout = self._timeout
        conn = self._service.current_connection
        if not timeout or conn is None:
            return await execute_func()
        with abort_after(timeout, self._service.driver_dialect.abort, conn) as timer:
            try:
                return await execute_func()
            except Exception as exc:
                if timer.fired and hasattr(exc, "add_note"):
                    exc.add_note(
                        f"awsasyncwrap: socket_timeout ({timeout:g} s) expired; the connection was aborted"
                    )
                raise


class SocketTimeoutPluginFactory(PluginFactory):
    """Creates :class:`SocketTimeoutPlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return SocketTimeoutPlugin(plugin_service, props)
