"""Hosts of a database cluster: :class:`HostInfo`, :class:`HostRole`, :class:`HostAvailability`."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

__all__ = ["HostAvailability", "HostInfo", "HostRole"]


class HostRole(enum.Enum):
    """The role a host plays in its cluster."""

    UNKNOWN = "unknown"
    WRITER = "writer"
    READER = "reader"


class HostAvailability(enum.Enum):
    """Whether the wrapper currently believes a host can be reached."""

    AVAILABLE = "available"
    UNAVAILABLE = "unavailable"


@dataclass(eq=False, slots=True)
class HostInfo:
    """One database host (instance or endpoint).

    Two ``HostInfo`` are equal when they name the same ``host:port``; role,
    availability and weights are state that may change over time.
    """

    host: str
    port: int | None = None
    role: HostRole = HostRole.WRITER
    availability: HostAvailability = HostAvailability.AVAILABLE
    weight: int = 100
    host_id: str | None = None
    last_update_time: float = field(default_factory=time.time)
    aliases: set[str] = field(default_factory=set)
    #: the AWS region the instance runs in, when the topology reports it (Global Database)
    region: str | None = None

    @property
    def url(self) -> str:
        """``host:port`` (or just ``host`` when the port is unknown)."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def all_aliases(self) -> frozenset[str]:
        """Every name this host is known by, its url included."""
        return frozenset((self.url, *self.aliases))

    def same_instance(self, other: HostInfo | None) -> bool:
        """Whether ``other`` names the same instance: the same instance id, else a shared alias."""
        if other is None:
            return False
        if self.host_id is not None and self.host_id == other.host_id:
            return True
        return not self.all_aliases.isdisjoint(other.all_aliases)

    def with_role(self, role: HostRole) -> HostInfo:
        """A copy with another role."""
        return HostInfo(
            self.host,
            self.port,
            role,
            self.availability,
            self.weight,
            self.host_id,
            self.last_update_time,
            set(self.aliases),
            self.region,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HostInfo):
            return NotImplemented
        return self.host == other.host and self.port == other.port

    def __hash__(self) -> int:
        return hash((self.host, self.port))

    def __repr__(self) -> str:
        ident = f" id={self.host_id}" if self.host_id else ""
        return f"<HostInfo {self.url} {self.role.value} {self.availability.value}{ident}>"
