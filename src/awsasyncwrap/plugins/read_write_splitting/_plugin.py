"""The ``read_write_splitting`` plugin: readers and the writer come from the cluster topology."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...errors import ConfigurationError
from ...host_selectors import BUILTIN_STRATEGIES, HostSelector, selector_for
from ...hostinfo import HostAvailability, HostInfo, HostRole
from ...plugin import Plugin, PluginFactory
from ...properties import Properties, WrapperProperties
from ._switcher import Held, SwitchingPlugin
from ._tracker import tracker
from .errors import ReadWriteSplittingError

if TYPE_CHECKING:
    from ...plugin_service import PluginService

__all__ = ["ReadWriteSplittingPlugin", "ReadWriteSplittingPluginFactory"]

logger = logging.getLogger(__name__)


class ReadWriteSplittingPlugin(SwitchingPlugin):
    """``set_read_only(True)`` moves the connection to a reader of the cluster, ``False`` back to the writer.

    Also answers the host selection strategies of :mod:`awsasyncwrap.host_selectors` for the whole
    chain (``service.get_host_info_by_strategy``), so failover picks readers the same way.
    """

    subscribed_methods = SwitchingPlugin.subscribed_methods | {"accepts_strategy"}

    def __init__(self, service: PluginService, props: Properties) -> None:
        super().__init__(service, props)
        self._strategy = WrapperProperties.READER_HOST_SELECTOR_STRATEGY.value(props)
        self._selectors: dict[str, HostSelector] = {}
        self._applied_hosts: tuple[HostInfo, ...] | None = None

    # --- host selection ------------------------------------------------------------------------

    def accepts_strategy(self, role: HostRole, strategy: str) -> bool:
        return strategy in BUILTIN_STRATEGIES

    def get_host_info_by_strategy(
        self, role: HostRole, strategy: str, host_list: list[HostInfo] | None = None
    ) -> HostInfo:
        selector = self._selectors.get(strategy)
        if selector is None:
            selector = self._selectors[strategy] = selector_for(strategy, tracker().count)
        hosts = host_list if host_list is not None else self._service.hosts
        return selector.get_host(hosts, role, self._props)

    # --- where the hosts are -------------------------------------------------------------------

    async def _prepare(self) -> None:
        # the provider hands out the monitor's latest hosts: apply (and diff) them only when they changed
        service = self._service
        hosts = await service.host_list_provider.refresh(service.current_connection)
        if hosts is not self._applied_hosts:
            self._applied_hosts = hosts
            self._recheck = True
            await service.apply_hosts(hosts)

    async def _classify(self, conn: Any, may_query: bool) -> tuple[HostRole, HostInfo]:
        service = self._service
        hosts = service.hosts
        current = service.current_host_info or service.initial_connection_host_info
        known = _find(hosts, current)
        if known is not None:
            return known.role, known
        if not may_query:  # inside a transaction: no query; an endpoint counts as the writer
            return HostRole.WRITER, current
        ident = await service.identify_connection(conn)
        if ident is not None:
            known = _find(hosts, ident)
            if known is not None:
                return known.role, known
        role = await service.get_host_role(conn)
        host = ident or current
        return (HostRole.READER if role is HostRole.READER else HostRole.WRITER), host

    def _is_valid(self, held: Held, role: HostRole) -> bool:
        if not super()._is_valid(held, role):
            return False
        known = _find(self._service.hosts, held.host)
        if known is None:
            return True  # the topology does not say otherwise
        return known.role is role and known.availability is HostAvailability.AVAILABLE

    async def _open_writer(self) -> Held:
        service = self._service
        writer = next((h for h in service.hosts if h.role is HostRole.WRITER), None)
        if writer is None and service.allowed_hosts is not None:
            # the endpoint itself is no way to the writer: it leads to one of its (reader) members
            raise ReadWriteSplittingError(
                "set_read_only(False): the cluster's writer is not a member of this connection's custom "
                f"endpoint ({service.allowed_hosts}); connect through an endpoint that includes the writer "
                "(or the cluster endpoint) to write."
            )
        return await self._open(writer or service.initial_connection_host_info)

    async def _open_reader(self) -> Held | None:
        service = self._service
        readers = self._reader_hosts()
        self._reader_error = None
        if not readers:
            return None
        strategy = self._strategy
        if not service.accepts_strategy(HostRole.READER, strategy):
            hint = " (add fastest_response_strategy to plugins)" if strategy == "fastest_response" else ""
            raise ConfigurationError(
                f"No plugin selects hosts with reader_host_selector_strategy={strategy!r}{hint}; "
                f"built-in strategies: {', '.join(BUILTIN_STRATEGIES)}."
            )
        up = [h for h in readers if h.availability is HostAvailability.AVAILABLE]
        down = [h for h in readers if h.availability is not HostAvailability.AVAILABLE]
        while up:
            host = service.get_host_info_by_strategy(HostRole.READER, strategy, up)
            up = [h for h in up if h != host]
            held = await self._try_open(host)
            if held is not None:
                return held
        for host in down:  # marked unavailable a while ago: worth a try before giving up
            held = await self._try_open(host)
            if held is not None:
                return held
        return None

    def _reader_hosts(self) -> list[HostInfo]:
        """The readers a switch to a reader may use."""
        return [h for h in self._service.hosts if h.role is HostRole.READER]

    async def _try_open(self, host: HostInfo) -> Held | None:
        try:
            held = await self._open(host)
        except Exception as exc:
            logger.debug("reader %s not reachable: %s", host.url, type(exc).__name__)
            self._reader_error = exc
            return None
        if host.availability is not HostAvailability.AVAILABLE:
            self._service.set_availability(host.all_aliases, HostAvailability.AVAILABLE)
        return held


def _find(hosts: Sequence[HostInfo], host: HostInfo) -> HostInfo | None:
    """The topology entry of ``host`` (by instance id, url or alias)."""
    return next((candidate for candidate in hosts if host.same_instance(candidate)), None)


class ReadWriteSplittingPluginFactory(PluginFactory):
    """Creates :class:`ReadWriteSplittingPlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return ReadWriteSplittingPlugin(plugin_service, props)
