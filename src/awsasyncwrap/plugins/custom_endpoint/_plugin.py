"""``custom_endpoint``: keep a connection to a custom endpoint inside the endpoint's members."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..._background import registry
from ...aws._props import AwsProps
from ...errors import AwsConnectError, ConfigurationError
from ...hostinfo import HostInfo
from ...plugin import ConnectFunc, Plugin, PluginFactory
from ...rds_utils import RdsUtils
from ..settings import custom_endpoint as P
from ._monitor import CustomEndpointInfo, CustomEndpointMonitor, Settings

if TYPE_CHECKING:
    from ...drivers import DriverDialect
    from ...plugin_service import PluginService
    from ...properties import Properties

__all__ = [
    "CustomEndpointInfoTimeoutError",
    "CustomEndpointPlugin",
    "CustomEndpointPluginFactory",
    "custom_endpoint_monitors",
]

logger = logging.getLogger(__name__)
_rds = RdsUtils()


class CustomEndpointInfoTimeoutError(AwsConnectError, TimeoutError):
    """A connect waited ``wait_for_custom_endpoint_info_timeout_ms`` for the endpoint's members in vain."""


def custom_endpoint_monitors() -> list[CustomEndpointMonitor]:
    """Every live custom endpoint monitor of the running event loop."""
    return [s for s in registry().services() if isinstance(s, CustomEndpointMonitor) and not s.closed]


class CustomEndpointPlugin(Plugin):
    """Publishes the custom endpoint's members as the instances this connection may use.

    Failover, read/write splitting and host selection then stay inside them (see
    ``docs/custom_endpoint.md``). Only connects are subscribed: no cost per call.
    """

    subscribed_methods = frozenset({"connect"})

    def __init__(self, service: PluginService, props: Properties) -> None:
        self._service = service
        self._props = props
        self._wait = P.WAIT_FOR_CUSTOM_ENDPOINT_INFO.value(props)
        self._wait_timeout = P.WAIT_FOR_CUSTOM_ENDPOINT_INFO_TIMEOUT_MS.seconds(props)
        self._disposal = P.CUSTOM_ENDPOINT_IDLE_MONITOR_EXPIRATION_MS.seconds(props)
        self._monitor: CustomEndpointMonitor | None = None
        self._key: tuple[str, str] | None = None

    async def connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial_connection: bool,
        connect_func: ConnectFunc,
    ) -> Any:
        if self._monitor is None and _rds.is_rds_custom_cluster_dns(host_info.host):
            monitor = self._acquire(host_info.host)
            info = monitor.info
            if info is None and self._wait:
                info = await monitor.wait_for_info(self._wait_timeout)
                if info is None:
                    raise CustomEndpointInfoTimeoutError(
                        f"The members of custom endpoint {host_info.host} were not known within "
                        f"wait_for_custom_endpoint_info_timeout_ms={self._wait_timeout * 1000:.0f}; see the "
                        "warnings of awsasyncwrap.plugins.custom_endpoint, or set "
                        "wait_for_custom_endpoint_info=false."
                    )
            if info is not None:
                self.on_members_change(info)
        return await connect_func()

    def _acquire(self, host: str) -> CustomEndpointMonitor:
        parsed = _rds.parse(host)
        endpoint_id = str(parsed.name)
        region = P.CUSTOM_ENDPOINT_REGION.get(self._props) or parsed.region
        if not region:
            raise ConfigurationError(
                f"No AWS region in custom endpoint {host!r}: set custom_endpoint_region."
            )
        settings = Settings(
            endpoint_id,
            region,
            P.CUSTOM_ENDPOINT_INFO_REFRESH_RATE_MS.seconds(self._props),
            P.CUSTOM_ENDPOINT_RDS_ENDPOINT.get(self._props),
        )
        props = {k: v for k, v in self._props.items() if k == AwsProps.AWS_PROFILE.name}  # no secret
        self._key = ("custom_endpoint", f"{region}/{endpoint_id}")
        monitor = registry().acquire(
            self._key, lambda: CustomEndpointMonitor(settings, props), CustomEndpointMonitor
        )
        self._monitor = monitor
        monitor.listen(self)
        monitor.start()
        return monitor

    def on_members_change(self, info: CustomEndpointInfo) -> None:
        """The endpoint's members changed (no I/O): from now on the connection uses only them."""
        self._service.allowed_hosts = info.allowed_hosts

    async def release_resources(self) -> None:
        if self._key is not None:
            key, self._key, self._monitor = self._key, None, None
            registry().release(key, self._disposal)


class CustomEndpointPluginFactory(PluginFactory):
    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return CustomEndpointPlugin(plugin_service, props)
