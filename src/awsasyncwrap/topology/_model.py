"""Topology snapshots and the mapping from instance ids to hosts."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..dialects._topology import TopologyEntry
from ..errors import ConfigurationError
from ..hostinfo import HostInfo, HostRole
from ..rds_utils import instance_host, parse_host_pattern

__all__ = ["HostMapper", "Topology", "UnknownRegionError"]


@dataclass(frozen=True, slots=True)
class Topology:
    """The cluster's instances at one moment (writer first).

    ``verified_at`` (``time.monotonic()``) is set when the monitor saw the writer itself answer
    "not a reader" on a live connection; a topology only read from a table is not verified.
    """

    hosts: tuple[HostInfo, ...]
    read_at: float = field(default_factory=time.monotonic)
    verified_at: float | None = None
    #: every name of every host -> the host (the first host of a name wins), made at the first lookup
    _by_name: dict[str, HostInfo] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def writer(self) -> HostInfo | None:
        """The writer, if the topology names one."""
        for host in self.hosts:
            if host.role is HostRole.WRITER:
                return host
        return None

    @property
    def readers(self) -> list[HostInfo]:
        """Every host that is not the writer."""
        return [h for h in self.hosts if h.role is not HostRole.WRITER]

    def find(self, host_id: str | None = None, url: str | None = None) -> HostInfo | None:
        """The host with this instance id or url."""
        if host_id is None:
            return None if url is None else self.by_name(url)
        for host in self.hosts:
            if host.host_id == host_id or (url is not None and url in host.all_aliases):
                return host
        return None

    def by_name(self, url: str) -> HostInfo | None:
        """The host known by ``url`` (its url or one of its aliases)."""
        names = self._by_name
        if names is None:
            names = {}
            for host in reversed(self.hosts):  # the first host of a name wins, as in a scan
                names.update(dict.fromkeys(host.all_aliases, host))
            object.__setattr__(self, "_by_name", names)  # a cache of the frozen hosts, not state
        return names.get(url)


class UnknownRegionError(ConfigurationError):
    """An instance id whose region no topology has told yet, with no fallback pattern."""


class HostMapper:
    """Builds :class:`HostInfo` of topology entries: the host pattern with ``?`` set to the instance id.

    ``region_patterns`` (Global Database, ``global_cluster_instance_host_patterns``): the pattern of each
    region; an entry's region picks it. A region without one falls back to ``pattern``
    (``cluster_instance_host_pattern``) if set, else it is a :class:`ConfigurationError`. An instance met
    without a region (e.g. identified on a connection) keeps the region it last had in a topology.
    """

    def __init__(
        self,
        pattern: str | None,
        default_port: int | None,
        region_patterns: Mapping[str, str] | None = None,
    ) -> None:
        for what in (pattern, *(region_patterns or {}).values()):
            if what is not None:
                try:
                    parse_host_pattern(what)
                except ValueError as exc:
                    raise ConfigurationError(f"Bad cluster_instance_host_pattern: {exc}.") from None
        self.pattern = pattern
        self.default_port = default_port
        self.region_patterns = dict(region_patterns or {})
        self._regions: dict[str, str] = {}  # instance id -> the region a topology last gave it

    def _pattern_for(self, host_id: str, region: str | None) -> str | None:
        if not self.region_patterns:
            return self.pattern
        found = self.region_patterns.get(region) if region is not None else None
        if found is not None or self.pattern is not None:
            return found or self.pattern
        if region is None:
            raise UnknownRegionError(
                f"The region of instance {host_id!r} is not known yet (no topology listed it), and "
                "cluster_instance_host_pattern is not set as a fallback."
            )
        raise ConfigurationError(
            f"Instance {host_id!r} is in region {region!r}, which global_cluster_instance_host_patterns "
            f"does not list (it lists {', '.join(self.region_patterns)}): add '<region>:<pattern>' for it."
        )

    def host(
        self,
        host_id: str,
        role: HostRole,
        endpoint: str | None = None,
        port: int | None = None,
        region: str | None = None,
    ) -> HostInfo:
        """The host of instance ``host_id`` (in ``region``, if the topology says)."""
        region = region or self._regions.get(host_id)
        pattern = self._pattern_for(host_id, region)
        if pattern is not None:
            if endpoint and "." in endpoint and not _is_ip(endpoint):
                host_id_part = endpoint.split(".", 1)[0]  # Multi-AZ: the instance name from its endpoint
            else:
                host_id_part = host_id
            name, pattern_port = instance_host(pattern, host_id_part)
            port = pattern_port or port or self.default_port
        elif endpoint:
            name = endpoint
            port = port or self.default_port
        else:
            raise ConfigurationError(
                "Set cluster_instance_host_pattern (e.g. '?.xyz.us-east-1.rds.amazonaws.com' or "
                "'10.0.0.?:5432'): the cluster reports instance ids, and the host name does not tell "
                "how to reach them."
            )
        return HostInfo(name, port, role, host_id=host_id, region=region)

    def build(
        self,
        entries: Iterable[TopologyEntry],
        verified_writer: str | None = None,
        keep: Iterable[HostInfo] = (),
        now: float | None = None,
    ) -> tuple[HostInfo, ...]:
        """Hosts of ``entries``, writer first.

        ``verified_writer``: an instance id seen to be the writer; it wins over what the table says
        (a just-promoted writer may still list its predecessor). ``keep``: hosts of an older topology
        to keep as readers when the new one lacks them (replicas re-attach after a failover).
        """
        hosts: list[HostInfo] = []
        seen: set[str] = set()
        for entry in entries:
            if entry.host_id in seen:
                continue
            seen.add(entry.host_id)
            if entry.region:
                self._regions[entry.host_id] = entry.region
            writer = entry.is_writer if verified_writer is None else entry.host_id == verified_writer
            role = HostRole.WRITER if writer else HostRole.READER
            host = self.host(entry.host_id, role, entry.endpoint, entry.port, entry.region)
            host.weight = int(entry.lag_ms) * 100 + int(entry.cpu)
            hosts.append(host)
        if verified_writer is not None and verified_writer not in seen:
            hosts.append(self.host(verified_writer, HostRole.WRITER))
            seen.add(verified_writer)
        for old in keep:
            if old.host_id is not None and old.host_id not in seen:
                seen.add(old.host_id)
                hosts.append(old.with_role(HostRole.READER))
        hosts.sort(key=lambda h: (h.role is not HostRole.WRITER, h.host_id or h.url))
        return tuple(hosts)


def _is_ip(text: str) -> bool:
    from ..rds_utils import RdsUtils

    return RdsUtils().is_ip(text)
