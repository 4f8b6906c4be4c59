"""RDS / Aurora host names: which kind of endpoint a host is, its region, cluster and instance pattern.

Endpoint shapes (``<id>`` is the account/region specific random part):

- cluster (writer) ``<cluster>.cluster-<id>.<region>.rds.amazonaws.com``
- reader            ``<cluster>.cluster-ro-<id>.<region>.rds.amazonaws.com``
- custom            ``<name>.cluster-custom-<id>.<region>.rds.amazonaws.com``
- proxy             ``<proxy>.proxy-<id>.<region>.rds.amazonaws.com``
- instance          ``<instance>.<id>.<region>.rds.amazonaws.com``

China regions use ``...<id>.rds.<region>.amazonaws.com.cn`` (older: ``...<region>.rds.amazonaws.com.cn``),
GovCloud / isolated regions ``...<id>.rds.<region>.amazonaws.com`` (or ``c2s.ic.gov`` / ``sc2s.sgov.gov``).
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "RdsHost",
    "RdsUrlType",
    "RdsUtils",
    "instance_host",
    "parse_global_host_patterns",
    "parse_host_pattern",
]


class RdsUrlType(enum.Enum):
    """What kind of endpoint a host name is."""

    IP_ADDRESS = "ip_address"
    RDS_WRITER_CLUSTER = "rds_writer_cluster"
    RDS_READER_CLUSTER = "rds_reader_cluster"
    RDS_CUSTOM_CLUSTER = "rds_custom_cluster"
    RDS_GLOBAL_WRITER_CLUSTER = "rds_global_writer_cluster"
    RDS_LIMITLESS_SHARD_GROUP = "rds_limitless_shard_group"
    RDS_PROXY = "rds_proxy"
    RDS_INSTANCE = "rds_instance"
    OTHER = "other"

    @property
    def is_rds(self) -> bool:
        """Whether this is any RDS endpoint."""
        return self not in (RdsUrlType.IP_ADDRESS, RdsUrlType.OTHER)

    @property
    def is_rds_cluster(self) -> bool:
        """Whether this is the writer or the reader cluster endpoint."""
        return self in (RdsUrlType.RDS_WRITER_CLUSTER, RdsUrlType.RDS_READER_CLUSTER)


_PREFIX_TYPES = {
    "cluster-": RdsUrlType.RDS_WRITER_CLUSTER,
    "cluster-ro-": RdsUrlType.RDS_READER_CLUSTER,
    "cluster-custom-": RdsUrlType.RDS_CUSTOM_CLUSTER,
    "global-": RdsUrlType.RDS_GLOBAL_WRITER_CLUSTER,
    "shardgrp-": RdsUrlType.RDS_LIMITLESS_SHARD_GROUP,
    "proxy-": RdsUrlType.RDS_PROXY,
}
_PREFIX = r"(?P<prefix>cluster-custom-|cluster-ro-|cluster-|global-|shardgrp-|proxy-)?"
_NAME = r"(?P<name>[^.]+)"
_ID = r"(?P<id>[a-z0-9]+)"
_REGION = r"(?P<region>[a-z0-9-]+)"

# each pattern: (regex, template of the domain after "<prefix><id>." with {region})
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"^{_NAME}\.{_PREFIX}{_ID}\.{_REGION}\.rds\.amazonaws\.com$"), "{region}.rds.amazonaws.com"),
    (
        re.compile(rf"^{_NAME}\.{_PREFIX}{_ID}\.rds\.{_REGION}\.amazonaws\.com\.cn$"),
        "rds.{region}.amazonaws.com.cn",
    ),
    (
        re.compile(rf"^{_NAME}\.{_PREFIX}{_ID}\.{_REGION}\.rds\.amazonaws\.com\.cn$"),
        "{region}.rds.amazonaws.com.cn",
    ),
    (
        re.compile(
            rf"^{_NAME}\.{_PREFIX}{_ID}\.rds\.{_REGION}\.(?P<tail>amazonaws\.com|c2s\.ic\.gov|sc2s\.sgov\.gov)$"
        ),
        "rds.{region}.{tail}",
    ),
)
_ELB = re.compile(r"^[^.]+\.elb\.(?P<region>[a-z0-9-]+)\.amazonaws\.com$")


@dataclass(frozen=True, slots=True)
class RdsHost:
    """A host name taken apart."""

    kind: RdsUrlType
    #: cluster name for cluster/custom/global endpoints, proxy name, or instance id
    name: str | None = None
    region: str | None = None
    #: ``<id>.<region>.rds.amazonaws.com`` (the part every instance of the cluster shares)
    domain: str | None = None


def _strip(host: str | None) -> str:
    if not host:
        return ""
    text = host.strip().lower().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return text


@lru_cache(maxsize=1024)
def _parse(host: str) -> RdsHost:
    if not host:
        return RdsHost(RdsUrlType.OTHER)
    try:
        ipaddress.ip_address(host)
        return RdsHost(RdsUrlType.IP_ADDRESS)
    except ValueError:
        pass
    for regex, domain_template in _PATTERNS:
        m = regex.match(host)
        if m is None:
            continue
        prefix = m.group("prefix")
        kind = _PREFIX_TYPES[prefix] if prefix else RdsUrlType.RDS_INSTANCE
        if kind is RdsUrlType.RDS_GLOBAL_WRITER_CLUSTER:
            # ``<name>.global-<id>.global.rds.amazonaws.com``: "global" is no region, and the
            # instances live under their own regional domains, which this name does not tell
            return RdsHost(kind, m.group("name"))
        groups = m.groupdict()
        tail = domain_template.format(region=groups["region"], tail=groups.get("tail"))
        domain = f"{m.group('id')}.{tail}"
        return RdsHost(kind, m.group("name"), m.group("region"), domain)
    elb = _ELB.match(host)
    if elb is not None:
        return RdsHost(RdsUrlType.OTHER, None, elb.group("region"))
    return RdsHost(RdsUrlType.OTHER)


@lru_cache(maxsize=64)  # every connection's host mapper checks its pattern; a bad one raises (not cached)
def parse_host_pattern(pattern: str) -> tuple[str, int | None]:
    """Split an instance host pattern ``host[:port]`` (``[v6]:port``); the host must hold ``?``."""
    text = pattern.strip()
    port: int | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"bad host pattern {pattern!r}: missing ']'")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"bad host pattern {pattern!r}")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = int(port_text)
    else:
        host = text
    if "?" not in host:
        raise ValueError(f"bad host pattern {pattern!r}: it must contain '?' (the instance id)")
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"bad host pattern {pattern!r}: port out of range")
    return host, port


_REGION_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_GLOBAL_FORM = "<region>:<pattern>[:port],... e.g. 'us-east-1:?.abc.us-east-1.rds.amazonaws.com'"


def parse_global_host_patterns(value: object) -> dict[str, str]:
    """``global_cluster_instance_host_patterns``: region -> instance host pattern (``host[:port]``).

    Each comma-separated entry is ``<region>:<pattern>[:port]``, or a bare RDS pattern whose host names
    its region (``?.abc.eu-west-1.rds.amazonaws.com``). Raises ``ValueError`` naming the bad entry.
    """
    if not isinstance(value, str):
        raise TypeError(f"expected a string of the form {_GLOBAL_FORM}")
    patterns: dict[str, str] = {}
    for raw in value.split(","):
        entry = raw.strip()
        region, sep, rest = entry.partition(":")
        if sep and _REGION_NAME.match(region):
            pattern = rest.strip()
        else:
            region, pattern = _parse(_strip(entry.split(":", 1)[0].replace("?", "x"))).region or "", entry
        if not entry or not region or not pattern:
            raise ValueError(f"bad entry {entry!r}; expected {_GLOBAL_FORM}")
        try:
            parse_host_pattern(pattern)
        except ValueError as exc:
            raise ValueError(f"bad entry {entry!r} ({exc}); expected {_GLOBAL_FORM}") from None
        if region in patterns:
            raise ValueError(f"region {region!r} is listed twice; expected {_GLOBAL_FORM}")
        patterns[region] = pattern
    return patterns


def instance_host(pattern: str, instance_id: str) -> tuple[str, int | None]:
    """The ``(host, port)`` of instance ``instance_id`` by ``pattern`` (port None if the pattern has none)."""
    host, port = parse_host_pattern(pattern)
    return host.replace("?", instance_id), port


class RdsUtils:
    """Recognizes RDS / Aurora endpoints. Stateless; every method takes a host name (no port)."""

    @staticmethod
    def parse(host: str | None) -> RdsHost:
        """The host taken apart (kind OTHER for anything not RDS)."""
        return _parse(_strip(host))

    def identify_rds_type(self, host: str | None) -> RdsUrlType:
        """The kind of endpoint ``host`` is."""
        return self.parse(host).kind

    def is_ip(self, host: str | None) -> bool:
        """Whether ``host`` is an IPv4 or IPv6 address."""
        return self.parse(host).kind is RdsUrlType.IP_ADDRESS

    def is_rds_dns(self, host: str | None) -> bool:
        """Whether ``host`` is any RDS endpoint."""
        return self.parse(host).kind.is_rds

    def is_rds_cluster_dns(self, host: str | None) -> bool:
        """Whether ``host`` is the writer or reader cluster endpoint."""
        return self.parse(host).kind.is_rds_cluster

    def is_writer_cluster_dns(self, host: str | None) -> bool:
        """Whether ``host`` is the cluster (writer) endpoint."""
        return self.parse(host).kind is RdsUrlType.RDS_WRITER_CLUSTER

    def is_reader_cluster_dns(self, host: str | None) -> bool:
        """Whether ``host`` is the reader cluster endpoint."""
        return self.parse(host).kind is RdsUrlType.RDS_READER_CLUSTER

    def is_rds_custom_cluster_dns(self, host: str | None) -> bool:
        """Whether ``host`` is a custom cluster endpoint."""
        return self.parse(host).kind is RdsUrlType.RDS_CUSTOM_CLUSTER

    def is_global_db_writer_cluster_dns(self, host: str | None) -> bool:
        """Whether ``host`` is a global database writer endpoint."""
        return self.parse(host).kind is RdsUrlType.RDS_GLOBAL_WRITER_CLUSTER

    def is_rds_proxy_dns(self, host: str | None) -> bool:
        """Whether ``host`` is an RDS Proxy endpoint."""
        return self.parse(host).kind is RdsUrlType.RDS_PROXY

    def is_rds_instance(self, host: str | None) -> bool:
        """Whether ``host`` is an instance endpoint."""
        return self.parse(host).kind is RdsUrlType.RDS_INSTANCE

    def get_rds_region(self, host: str | None) -> str | None:
        """The AWS region in an RDS (or ELB) host name, else None."""
        return self.parse(host).region

    def get_rds_cluster_id(self, host: str | None) -> str | None:
        """The cluster name of a cluster / reader / custom / global endpoint, else None."""
        parsed = self.parse(host)
        if parsed.kind.is_rds and parsed.kind not in (RdsUrlType.RDS_INSTANCE, RdsUrlType.RDS_PROXY):
            return parsed.name
        return None

    def get_instance_id(self, host: str | None) -> str | None:
        """The instance id of an instance endpoint, else None."""
        parsed = self.parse(host)
        return parsed.name if parsed.kind is RdsUrlType.RDS_INSTANCE else None

    def get_rds_cluster_host_url(self, host: str | None) -> str | None:
        """The writer cluster endpoint of the cluster a cluster/reader endpoint belongs to."""
        parsed = self.parse(host)
        if not parsed.kind.is_rds_cluster or parsed.domain is None:
            return None
        return f"{parsed.name}.cluster-{parsed.domain}"

    def get_rds_instance_host_pattern(self, host: str | None) -> str | None:
        """``?.<domain>``: the host of every instance of the cluster ``host`` belongs to, else None."""
        parsed = self.parse(host)
        if not parsed.kind.is_rds or parsed.domain is None:
            return None
        return f"?.{parsed.domain}"

    @staticmethod
    def is_dns_pattern_valid(pattern: str) -> bool:
        """Whether ``pattern`` can map instance ids to hosts (holds one ``?`` in its host part)."""
        try:
            parse_host_pattern(pattern)
        except ValueError:
            return False
        return True
