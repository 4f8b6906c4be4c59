"""The ``gdb_rw`` plugin: read/write splitting kept inside a home region (Aurora Global Database)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ...hostinfo import HostInfo, HostRole
from ...plugin import Plugin, PluginFactory
from ...properties import Properties
from .._gdb_regions import ACCESSIBLE_REGIONS, home_region, region_of
from ..read_write_splitting import ReadWriteSplittingError, ReadWriteSplittingPlugin
from ..read_write_splitting._switcher import Held
from ..settings.gdb_rw import (
    ENABLE_GLOBAL_WRITE_FORWARDING,
    GDB_RW_HOME_REGION,
    RESTRICT_READER_TO_HOME_REGION,
    RESTRICT_WRITER_TO_HOME_REGION,
)
from ._rules import WriterVerdict, reader_hosts, writer_verdict

if TYPE_CHECKING:
    from ...plugin_service import PluginService

__all__ = ["GdbReadWriteSplittingPlugin", "GdbReadWriteSplittingPluginFactory"]

logger = logging.getLogger(__name__)


class GdbReadWriteSplittingPlugin(ReadWriteSplittingPlugin):
    """``read_write_splitting`` whose readers (and, by default, writer) must run in the home region."""

    def __init__(self, service: PluginService, props: Properties) -> None:
        super().__init__(service, props)
        self.home_region = home_region(props, GDB_RW_HOME_REGION, service.initial_connection_host_info.host)
        self._restrict_writer = RESTRICT_WRITER_TO_HOME_REGION.value(props)
        self._restrict_reader = RESTRICT_READER_TO_HOME_REGION.value(props)
        self._forwarding = ENABLE_GLOBAL_WRITE_FORWARDING.value(props)
        self._accessible = ACCESSIBLE_REGIONS.get(props) or None

    def _reader_hosts(self) -> list[HostInfo]:
        return reader_hosts(self._service.hosts, self.home_region, self._restrict_reader, self._accessible)

    def _writer_host(self) -> HostInfo | None:
        return next((h for h in self._service.hosts if h.role is HostRole.WRITER), None)

    def _is_valid(self, held: Held, role: HostRole) -> bool:
        if not super()._is_valid(held, role):
            return False
        if role is HostRole.READER:
            return held.host in self._reader_hosts() or region_of(held.host) is None
        verdict = writer_verdict(
            held.host, self.home_region, self._restrict_writer, self._forwarding, self._accessible
        )
        return verdict is WriterVerdict.SWITCH

    async def _to_writer(self, here: Held) -> None:
        writer = self._writer_host()
        verdict = writer_verdict(
            writer, self.home_region, self._restrict_writer, self._forwarding, self._accessible
        )
        if verdict is WriterVerdict.SWITCH:
            await super()._to_writer(here)
            return
        assert writer is not None
        where = f"the writer {writer.url} runs in {region_of(writer) or 'an unknown region'}"
        if verdict is WriterVerdict.STAY:
            logger.debug(
                "set_read_only(False): %s; staying on %s (global write forwarding)", where, here.host.url
            )
            return
        raise ReadWriteSplittingError(
            f"set_read_only(False): {where}, outside the home region {self.home_region} "
            "(gdb_rw_restrict_writer_to_home_region=true); the connection stays on "
            f"{here.host.url}. Set gdb_enable_global_write_forwarding=true to write through this region's "
            "cluster, or gdb_rw_restrict_writer_to_home_region=false to follow the writer."
        )


class GdbReadWriteSplittingPluginFactory(PluginFactory):
    """Creates :class:`GdbReadWriteSplittingPlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return GdbReadWriteSplittingPlugin(plugin_service, props)
