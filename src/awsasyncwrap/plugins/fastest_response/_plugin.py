"""The ``fastest_response_strategy`` plugin: answers the ``fastest_response`` host selection strategy."""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, Any

from ..._background import registry
from ...errors import ConfigurationError
from ...events import HostEvent
from ...host_selectors import eligible_hosts
from ...hostinfo import HostInfo, HostRole
from ...plugin import Plugin, PluginFactory
from ...properties import Properties, WrapperProperties
from ..settings.fastest_response import RESPONSE_MEASUREMENT_INTERVAL_MS
from ._monitor import ResponseTimeMonitor, monitor_key

if TYPE_CHECKING:
    from ...plugin_service import PluginService

__all__ = ["STRATEGY", "FastestResponseStrategyPlugin", "FastestResponseStrategyPluginFactory"]

logger = logging.getLogger(__name__)

STRATEGY = "fastest_response"
_PROBE_TIMEOUT = 5.0


class FastestResponseStrategyPlugin(Plugin):
    """Picks the host of a role that answered fastest in the cluster's last measurement.

    Hosts not measured yet (or unreachable at the last measurement) come after measured ones; with
    no measurement at all the pick is random. The measuring task is shared per cluster.
    """

    subscribed_methods = frozenset({"accepts_strategy", "notify_host_list_changed"})

    def __init__(self, service: PluginService, props: Properties) -> None:
        strategies = (
            WrapperProperties.READER_HOST_SELECTOR_STRATEGY.get(props),
            WrapperProperties.FAILOVER_READER_HOST_SELECTOR_STRATEGY.get(props),
        )
        if STRATEGY not in strategies:
            raise ConfigurationError(
                "The fastest_response_strategy plugin needs reader_host_selector_strategy (or "
                f"failover_reader_host_selector_strategy) set to {STRATEGY!r}."
            )
        self._service = service
        self._props = props
        self._interval = RESPONSE_MEASUREMENT_INTERVAL_MS.seconds(props)
        self._disposal = WrapperProperties.MONITOR_DISPOSAL_TIME_MS.seconds(props)
        self._monitor: ResponseTimeMonitor | None = None
        self._key: Any = None
        self._connector: Any = None

    @property
    def monitor(self) -> ResponseTimeMonitor | None:
        """The cluster's response-time monitor, once hosts are known."""
        return self._monitor

    # --- host selection ------------------------------------------------------------------------

    def accepts_strategy(self, role: HostRole, strategy: str) -> bool:
        return strategy == STRATEGY

    def get_host_info_by_strategy(
        self, role: HostRole, strategy: str, host_list: list[HostInfo] | None = None
    ) -> HostInfo:
        candidates = eligible_hosts(host_list if host_list is not None else self._service.hosts, role)
        monitor = self._ensure_monitor()
        if monitor is None:
            return random.choice(candidates)
        timed = [(monitor.response_time(h), i) for i, h in enumerate(candidates)]
        best, index = min(timed)
        if best == float("inf"):
            return random.choice(candidates)
        return candidates[index]

    # --- the monitor ---------------------------------------------------------------------------

    async def notify_host_list_changed(self, changes: dict[str, set[HostEvent]]) -> None:
        self._ensure_monitor()

    def _ensure_monitor(self) -> ResponseTimeMonitor | None:
        service = self._service
        hosts = service.hosts
        if not hosts:
            return None
        monitor = self._monitor
        if monitor is None or monitor.closed:
            if service.closed:  # a call still in flight after close() acquires no monitor nobody releases
                return None
            cluster_id = service.host_list_provider.get_cluster_id()
            key = monitor_key(cluster_id)
            driver = service.driver_dialect
            interval = self._interval
            monitor = registry().acquire(
                key,
                lambda: ResponseTimeMonitor(cluster_id, driver, interval, _PROBE_TIMEOUT),
                ResponseTimeMonitor,
            )
            mon_props = self._props.monitoring_props()

            async def connector(host: HostInfo) -> Any:
                return await service.force_connect(host, mon_props, plugin_to_skip=self)

            monitor.attach(connector)
            self._monitor, self._key, self._connector = monitor, key, connector
        monitor.set_hosts(hosts)
        return monitor

    async def release_resources(self) -> None:
        monitor, self._monitor = self._monitor, None
        if monitor is None:
            return
        monitor.detach(self._connector)
        registry().release(self._key, self._disposal)


class FastestResponseStrategyPluginFactory(PluginFactory):
    """Creates :class:`FastestResponseStrategyPlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return FastestResponseStrategyPlugin(plugin_service, props)
