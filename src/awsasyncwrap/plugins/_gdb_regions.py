"""Regions of a Global Database for the ``gdb_failover`` and ``gdb_rw`` plugins (pure: no I/O).

A host's region is the one the topology reports (``HostInfo.region``), else the one in its RDS
host name. The home region is a property, else the region of the connection URL; a URL without one
(an IP address, a global writer endpoint, a custom domain) needs the property.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigurationError
from ..hostinfo import HostInfo
from ..properties import WrapperProperty
from ..rds_utils import RdsUtils
from .settings.gdb_regions import ACCESSIBLE_REGIONS

__all__ = ["ACCESSIBLE_REGIONS", "home_region", "in_region", "permitted", "region_of", "regions_of"]

_rds = RdsUtils()


def region_of(host: HostInfo) -> str | None:
    """The region of ``host``: the topology's, else its host name's (lower case), else None."""
    region = host.region or _rds.get_rds_region(host.host)
    return region.lower() if region else None


def in_region(host: HostInfo, region: str) -> bool:
    """Whether ``host`` is known to run in ``region`` (an unknown region is in none)."""
    return region_of(host) == region


def permitted(host: HostInfo, accessible: frozenset[str] | None) -> bool:
    """Whether ``host`` may be used under ``gdb_accessible_regions`` (a host of unknown region may)."""
    if not accessible:
        return True
    region = region_of(host)
    return region is None or region in accessible


def regions_of(hosts: Iterable[HostInfo]) -> set[str]:
    """The regions ``hosts`` run in (known ones)."""
    return {r for r in map(region_of, hosts) if r is not None}


def home_region(props: Mapping[str, Any], prop: WrapperProperty[str], url_host: str) -> str:
    """The home region: ``prop`` if set, else the region of the URL host; ConfigurationError if neither,
    or if ``gdb_accessible_regions`` leaves the home region out."""
    explicit = prop.get(props)
    region = explicit.strip().lower() if explicit and explicit.strip() else _rds.get_rds_region(url_host)
    if not region:
        raise ConfigurationError(
            f"Property {prop.name!r} is required: the connection URL host {url_host!r} names no AWS region "
            "(an IP address, a Global Database writer endpoint or a custom domain). Set it to the region "
            "the application runs in, e.g. us-east-1."
        )
    region = region.lower()
    accessible = ACCESSIBLE_REGIONS.get(props)
    if accessible and region not in accessible:
        raise ConfigurationError(
            f"The home region {region!r} ({prop.name}) is not among gdb_accessible_regions="
            f"{','.join(sorted(accessible))!r}: add it there or choose another home region."
        )
    return region
