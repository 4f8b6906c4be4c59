"""The ``gdb_failover`` plugin: the failover plugin with a home region for Aurora Global Databases.

Everything but the choice of target is the failover plugin's (error classification, one failover per
connection, early connects to the new writer, session state). The target comes from
:func:`~._modes.decide`, asked again on every round with the monitor's latest topology, so a writer
that moves to another region mid-failover switches to the inactive-home mode.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING, Any

from ...errors import FailoverFailedError
from ...hostinfo import HostInfo, HostRole
from ...plugin import Plugin, PluginFactory
from ...properties import Properties, WrapperProperties
from ...rds_utils import RdsUrlType, RdsUtils
from ...topology import ClusterTopologyMonitor, Topology
from .._gdb_regions import ACCESSIBLE_REGIONS, home_region, permitted, region_of
from ..failover import READER_OR_WRITER, STRICT_READER, STRICT_WRITER, FailoverPlugin
from ..settings.gdb_failover import (
    ACTIVE_HOME_FAILOVER_MODE,
    FAILOVER_HOME_REGION,
    INACTIVE_HOME_FAILOVER_MODE,
)
from ._modes import Decision, GdbMode, decide, mode_for

if TYPE_CHECKING:
    from ...plugin_service import PluginService

__all__ = ["GdbFailoverPlugin", "GdbFailoverPluginFactory"]

logger = logging.getLogger(__name__)

_rds = RdsUtils()
_WRITER_URLS = frozenset({RdsUrlType.RDS_WRITER_CLUSTER, RdsUrlType.RDS_GLOBAL_WRITER_CLUSTER})


class _ModeChanged(Exception):
    """The writer moved to a region whose mode does not follow the writer: decide again."""


class GdbFailoverPlugin(FailoverPlugin):
    """Fails over within the constraints of a home region (``failover_home_region`` and two modes)."""

    def __init__(self, service: PluginService, props: Properties) -> None:
        super().__init__(service, props)
        url = service.initial_connection_host_info.host
        self.home_region = home_region(props, FAILOVER_HOME_REGION, url)
        default = GdbMode.STRICT_WRITER if _rds.identify_rds_type(url) in _WRITER_URLS else None
        default = default or GdbMode.HOME_READER_OR_WRITER
        self.active_mode = GdbMode(ACTIVE_HOME_FAILOVER_MODE.get(props) or default.value)
        self.inactive_mode = GdbMode(INACTIVE_HOME_FAILOVER_MODE.get(props) or default.value)
        self._accessible = ACCESSIBLE_REGIONS.get(props) or None
        self._rng = random.Random()
        logger.debug(
            "gdb_failover: home region %s, active-home mode %s, inactive-home mode %s",
            self.home_region,
            self.active_mode.value,
            self.inactive_mode.value,
        )

    # --- the mode in force ---------------------------------------------------------------------

    @property
    def gdb_mode(self) -> GdbMode:
        """The mode that applies now (by the region of the writer the connection knows)."""
        return mode_for(self._service.hosts, self.home_region, self.active_mode, self.inactive_mode)[0]

    @property
    def mode(self) -> str:
        """The failover plugin's mode closest to :attr:`gdb_mode` (strict_writer decides write retries)."""
        gdb = self.gdb_mode
        if gdb is GdbMode.STRICT_WRITER:
            return STRICT_WRITER
        return STRICT_READER if gdb.strict_reader else READER_OR_WRITER

    def _decide(self, topo: Topology | None, failed_host: HostInfo | None) -> Decision:
        hosts = topo.hosts if topo is not None else self._service.hosts
        failed = failed_host.all_aliases if failed_host is not None else frozenset()
        return decide(
            hosts,
            self.home_region,
            self.active_mode,
            self.inactive_mode,
            failed=failed,
            accessible=self._accessible,
            rng=self._rng,
        )

    # --- finding the new host ------------------------------------------------------------------

    def _check_writer(self, writer: HostInfo, topo: Topology) -> None:
        if not permitted(writer, self._accessible):
            raise FailoverFailedError(
                f"the new writer {writer.url} runs in {region_of(writer)}, outside gdb_accessible_regions="
                f"{','.join(sorted(self._accessible or ()))}"
            )
        mode, _ = mode_for(topo.hosts, self.home_region, self.active_mode, self.inactive_mode)
        if mode is not GdbMode.STRICT_WRITER:
            raise _ModeChanged

    async def _find_host(
        self, monitor: ClusterTopologyMonitor, failed_host: HostInfo | None, since: float
    ) -> tuple[Any, HostInfo]:
        deadline = since + self._timeout
        monitor.request_verification(since, failed_host)
        pause = WrapperProperties.CLUSTER_TOPOLOGY_HIGH_REFRESH_RATE_MS.seconds(self._props)
        decision = self._decide(monitor.topology, failed_host)
        logger.debug("gdb_failover: mode %s (home active: %s)", decision.mode.value, decision.home_active)
        while True:
            self._check_stopped()
            if monitor.closed:
                raise FailoverFailedError("the cluster's topology monitor was stopped (release_resources())")
            if decision.follow_writer:
                try:
                    return await self._to_writer(monitor, failed_host, since, deadline)
                except _ModeChanged:
                    logger.debug("gdb_failover: the writer left the home region; deciding again")
            else:
                found = await self._try_candidates(decision, deadline)
                if found is not None:
                    return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FailoverFailedError(
                    f"no host for failover mode {decision.mode.value} (home region {self.home_region}) "
                    f"within {self._timeout:g} s"
                )
            await asyncio.sleep(min(pause, remaining))
            decision = self._decide(monitor.topology, failed_host)

    async def _try_candidates(self, decision: Decision, deadline: float) -> tuple[Any, HostInfo] | None:
        for host in self._service.permitted(decision.candidates):
            self._check_stopped()
            if time.monotonic() >= deadline:
                return None
            conn = await self._try_connect(host, deadline, want=decision.verify_role)
            if conn is not None:
                role = HostRole.WRITER if host.role is HostRole.WRITER else HostRole.READER
                return conn, host.with_role(role)
        return None


class GdbFailoverPluginFactory(PluginFactory):
    """Creates :class:`GdbFailoverPlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return GdbFailoverPlugin(plugin_service, props)
