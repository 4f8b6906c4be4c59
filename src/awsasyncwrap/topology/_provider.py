"""The RDS host list provider: hosts come from the cluster's shared topology monitor."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._background import registry
from ..errors import ConfigurationError
from ..hostinfo import HostInfo, HostRole
from ..properties import Properties, WrapperProperties
from ..rds_utils import RdsUtils
from ._model import HostMapper, Topology, UnknownRegionError
from ._monitor import ClusterTopologyMonitor, Connector

if TYPE_CHECKING:
    from ..dialects._topology import TopologyAwareDialect
    from ..host_list_provider import HostListProviderService

__all__ = ["RdsHostListProvider", "cluster_id_for", "existing_monitor", "monitor_key"]

logger = logging.getLogger(__name__)

_rds = RdsUtils()


def cluster_id_for(props: Properties, initial_host: HostInfo) -> str:
    """The id connections to one cluster share.

    ``cluster_id`` if set; else the cluster endpoint a cluster / reader endpoint belongs to; else (an
    instance endpoint, an IP, a custom name) the cluster of a running monitor whose topology lists the
    host; else the host pattern and port; else the host itself.
    """
    explicit = WrapperProperties.CLUSTER_ID.get(props)
    if explicit:
        return explicit
    port = initial_host.port
    cluster_url = _rds.get_rds_cluster_host_url(initial_host.host)
    if cluster_url is not None:
        return f"{cluster_url}:{port}"
    listed = _cluster_listing(initial_host)
    if listed is not None:
        return listed
    pattern = WrapperProperties.CLUSTER_INSTANCE_HOST_PATTERN.get(props)
    if pattern:
        return f"{pattern}@{port}"
    regional = props.get(WrapperProperties.GLOBAL_CLUSTER_INSTANCE_HOST_PATTERNS.name)
    if regional:
        return f"{regional}@{port}"
    return initial_host.url


def _cluster_listing(host: HostInfo) -> str | None:
    """The cluster id of a live monitor (of the running loop) whose topology lists ``host``."""
    try:
        services = registry().services()
    except RuntimeError:  # no running loop
        return None
    url = host.url
    for service in services:
        if isinstance(service, ClusterTopologyMonitor) and not service.closed:
            topo = service.topology
            if topo is not None and topo.by_name(url) is not None:
                return service.cluster_id
    return None


def monitor_key(cluster_id: str) -> tuple[str, str]:
    """Key of a cluster's topology monitor in the service registry."""
    return ("cluster-topology", cluster_id)


class RdsHostListProvider:
    """Hosts of an Aurora / Multi-AZ cluster, read by the cluster's shared :class:`ClusterTopologyMonitor`.

    The first refresh of a new connection reads the topology on that connection if the monitor
    has none yet (one query at connect time); later refreshes only read the monitor's latest result.
    """

    def __init__(
        self, service: HostListProviderService, props: Properties, dialect: TopologyAwareDialect
    ) -> None:
        self._service = service
        self._props = props
        self._dialect = dialect
        initial = service.initial_connection_host_info
        self._initial_host = initial
        pattern = WrapperProperties.CLUSTER_INSTANCE_HOST_PATTERN.get(props)
        regional = WrapperProperties.GLOBAL_CLUSTER_INSTANCE_HOST_PATTERNS.get(props)
        if pattern is None and not regional and _rds.is_global_db_writer_cluster_dns(initial.host):
            raise ConfigurationError(
                f"{initial.host} is an Aurora Global Database writer endpoint: its instances live under "
                "their regions' own domains, which the name does not tell. Set "
                "global_cluster_instance_host_patterns='<region>:<pattern>[:port],...' (e.g. "
                "'us-east-1:?.abc.us-east-1.rds.amazonaws.com,eu-west-1:?.def.eu-west-1.rds.amazonaws.com')."
            )
        if pattern is None:
            pattern = _rds.get_rds_instance_host_pattern(initial.host)
            if pattern is not None and _rds.is_rds_proxy_dns(initial.host):
                pattern = None
        self._mapper = HostMapper(pattern, initial.port, regional)
        #: whether topology hosts can be told apart and reached (else this provider acts static)
        self.supports_topology = (
            pattern is not None
            or bool(regional)
            or dialect.reports_endpoints
            or WrapperProperties.TOPOLOGY_QUERY.get(props) is not None
        )
        if not self.supports_topology:
            _warn_once(initial.host)
        self._cluster_id = cluster_id_for(props, initial)
        self._monitor: ClusterTopologyMonitor | None = None
        self._connector: Connector | None = None
        self._released = False
        self._disposal = WrapperProperties.MONITOR_DISPOSAL_TIME_MS.seconds(props)

    @property
    def mapper(self) -> HostMapper:
        """Maps instance ids to hosts."""
        return self._mapper

    @property
    def dialect(self) -> TopologyAwareDialect:
        """The dialect whose queries this provider uses."""
        return self._dialect

    def monitor(self) -> ClusterTopologyMonitor:
        """The cluster's topology monitor (acquired on first use, released by :meth:`release`).

        One stopped by ``release_resources()`` while this connection stays open is replaced by a new one;
        none is acquired once :meth:`release` ran (the connection closed).
        """
        if self._released:
            raise RuntimeError(f"the topology view of {self._cluster_id} was released with its connection")
        if self._monitor is not None and self._monitor.closed:
            self._monitor = self._connector = None  # the registry that held it is gone
        if self._monitor is None:
            service = self._service
            monitor = registry().acquire(
                monitor_key(self._cluster_id),
                lambda: ClusterTopologyMonitor(
                    self._cluster_id,
                    service.driver_dialect,
                    self._dialect,
                    _target_func(service),
                    self._props,
                    self._initial_host,
                    self._mapper,
                ),
                ClusterTopologyMonitor,
            )
            force_connect = getattr(service, "force_connect", None)
            if force_connect is not None:
                mon_props = self._props.monitoring_props()

                async def connector(host: HostInfo) -> Any:
                    return await force_connect(host, mon_props)

                self._connector = connector
                monitor.attach(connector)
            self._monitor = monitor
        self._monitor.ensure_started()
        return self._monitor

    def stuck_calls_listener(self) -> Callable[[HostInfo], None] | None:
        """What a host monitor calls when calls on a host are stuck: the cluster monitor's writer check
        (None without a topology)."""
        return self.monitor().report_stuck_calls if self.supports_topology else None

    async def refresh(self, connection: Any | None = None) -> tuple[HostInfo, ...]:
        if not self.supports_topology:
            return (self._initial_host,)
        monitor = self.monitor()
        topo = monitor.topology
        if topo is None and connection is not None:
            topo = await self._read_on(connection)
            if topo is not None:
                monitor.seed(topo)
        return topo.hosts if topo is not None else (self._initial_host,)

    async def force_refresh(self, connection: Any | None = None) -> tuple[HostInfo, ...]:
        if not self.supports_topology:
            return (self._initial_host,)
        monitor = self.monitor()
        now = time.monotonic()
        monitor.request_verification(now)
        timeout = WrapperProperties.CLUSTER_TOPOLOGY_QUERY_TIMEOUT_MS.seconds(self._props)
        topo = await monitor.wait_for_topology(now, timeout)
        if topo is None and connection is not None:
            return await self.refresh(connection)
        return topo.hosts if topo is not None else (self._initial_host,)

    async def _read_on(self, connection: Any) -> Topology | None:
        service = self._service
        try:
            entries = await self._dialect.query_topology(connection, service.driver_dialect, self._props)
        except Exception as exc:
            if not service.driver_dialect.is_driver_error(exc):
                raise
            logger.debug("topology query on the new connection failed: %s", type(exc).__name__)
            return None
        return Topology(self._mapper.build(entries)) if entries else None

    async def get_host_role(self, connection: Any) -> HostRole:
        service = self._service
        return await self._dialect.get_host_role(connection, service.driver_dialect, self._props)

    async def identify_connection(self, connection: Any) -> HostInfo | None:
        service = self._service
        host_id = await self._dialect.query_host_id(connection, service.driver_dialect, self._props)
        if host_id is None or not self.supports_topology:
            return None
        topo = self.monitor().topology
        known = topo.find(host_id=host_id) if topo is not None else None
        if known is not None:
            return known
        try:
            return self._mapper.host(host_id, HostRole.UNKNOWN)
        except UnknownRegionError:  # a global database before its first topology
            return None

    def get_cluster_id(self) -> str:
        return self._cluster_id

    def known_topology(self) -> Topology | None:
        """The topology the monitor holds now, without acquiring one (None once released)."""
        monitor = self._monitor
        return monitor.topology if monitor is not None and not monitor.closed else None

    async def release(self) -> None:
        """Let go of the cluster's monitor. From now on this provider acts static: a connect or a check
        still in flight for the closed connection (e.g. a monitor's spare connect through its pipeline)
        must not acquire a new monitor that nobody would release."""
        self._released = True
        self.supports_topology = False
        monitor, self._monitor = self._monitor, None
        if monitor is None:
            return
        if self._connector is not None:
            monitor.detach(self._connector)
            self._connector = None
        registry().release(monitor_key(self._cluster_id), self._disposal)


_warned: set[str] = set()


def _warn_once(host: str) -> None:
    if host not in _warned:
        _warned.add(host)
        logger.warning(
            "%s serves a cluster topology, but its instances cannot be reached without "
            "cluster_instance_host_pattern (e.g. ?.<id>.<region>.rds.amazonaws.com): topology, "
            "failover and connection tracking stay off",
            host,
        )


def _target_func(service: HostListProviderService) -> Any:
    return getattr(service, "target_driver_func", None)


def existing_monitor(cluster_id: str) -> ClusterTopologyMonitor | None:
    """The live monitor of ``cluster_id`` in the running loop, if any (not acquired)."""
    found = registry().get(monitor_key(cluster_id))
    return found if isinstance(found, ClusterTopologyMonitor) and not found.closed else None
