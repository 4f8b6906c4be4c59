"""Connecting to an instance of a given role through the topology (for endpoints that lied).

A cluster endpoint is a DNS name whose answer lags behind the cluster: right after a failover the
writer endpoint may still lead to the old writer (now a reader, or dead). These helpers tell which
role an endpoint promises and open a connection to a verified instance of that role instead.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING, Any

from .._deadline import abort_after
from ..hostinfo import HostInfo, HostRole
from ..properties import Properties, WrapperProperties
from ..rds_utils import RdsUtils

if TYPE_CHECKING:
    from ..plugin import Plugin
    from ..plugin_service import PluginService

__all__ = [
    "connect_by_role",
    "endpoint_role",
    "exchange",
]

logger = logging.getLogger(__name__)

_rds = RdsUtils()


def endpoint_role(host: HostInfo, props: Properties) -> HostRole | None:
    """The role the endpoint ``host`` promises (None: an instance or unknown)."""
    name = host.host.lower()
    for prop, role in (
        (WrapperProperties.CLUSTER_WRITER_ENDPOINT, HostRole.WRITER),
        (WrapperProperties.CLUSTER_READER_ENDPOINT, HostRole.READER),
    ):
        configured = prop.get(props)
        if configured and name in {h.strip().lower() for h in configured.split(",")}:
            return role
    if _rds.is_writer_cluster_dns(name):
        return HostRole.WRITER
    if _rds.is_reader_cluster_dns(name):
        return HostRole.READER
    return None


async def connect_by_role(
    service: PluginService,
    skip: Plugin | None,
    want: HostRole,
    timeout: float,
    connect_timeout: float = 5.0,
    *,
    interval: float = 0.05,
) -> tuple[Any, HostInfo] | None:
    """A connection to an instance verified to be ``want``, found through the topology monitor; ``interval``
    seconds between two rounds over the candidates."""
    provider = service.topology_provider
    if provider is None:
        return None
    monitor = provider.monitor()
    since = time.monotonic()
    deadline = since + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        if want is HostRole.WRITER:
            monitor.request_verification(since)
            topo = await monitor.wait_for_writer(since, remaining)
            candidates = [topo.writer] if topo is not None and topo.writer is not None else []
        else:
            topo = monitor.topology or await monitor.wait_for_topology(0.0, remaining)
            candidates = list(topo.readers) if topo is not None else []
            random.shuffle(candidates)
        for host in candidates:
            found = await _try(service, skip, host, want, min(connect_timeout, max(0.001, remaining)))
            if found is not None:
                return found, host.with_role(want)
        since = time.monotonic()
        await asyncio.sleep(min(interval, max(0.0, deadline - since)))
    return None


async def _try(
    service: PluginService, skip: Plugin | None, host: HostInfo, want: HostRole, limit: float
) -> Any:
    conn = None
    try:
        conn = await service.connect_within(host, limit, service.props, plugin_to_skip=skip)
        with abort_after(limit, service.driver_dialect.abort, conn):
            role = await service.get_host_role(conn)
        if role is want:
            return conn
        logger.debug("%s is a %s, not a %s", host.url, role.value, want.value)
    except Exception as exc:
        if service.is_login_error(exc):
            if conn is not None:
                await service.dispose(conn)
            raise
        logger.debug("connect to %s failed: %s", host.url, type(exc).__name__)
    except BaseException:  # cancelled: the connection is ours to free
        if conn is not None:
            service.driver_dialect.close_now(conn)
        raise
    if conn is not None:
        await service.dispose(conn)
    return None


async def exchange(service: PluginService, old: Any, new: Any) -> Any:
    """``new`` after ``old`` is disposed of; if cancelled meanwhile, ``new`` is freed too (nobody has it)."""
    try:
        await service.dispose(old)
    except BaseException:
        service.driver_dialect.close_now(new)
        raise
    return new
