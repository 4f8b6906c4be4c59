"""Which of the cluster's instances a connection may use (a custom endpoint's members)."""

from __future__ import annotations

from dataclasses import dataclass

from .hostinfo import HostInfo

__all__ = ["AllowedHosts"]


@dataclass(frozen=True)
class AllowedHosts:
    """Instance ids a connection may use: only ``allowed`` (None: any), never ``blocked``."""

    allowed: frozenset[str] | None = None
    blocked: frozenset[str] = frozenset()

    def permits(self, host: HostInfo) -> bool:
        """Whether ``host`` (matched by instance id, else by any of its names) may be used."""
        names = {host.host_id} if host.host_id else set(host.all_aliases)
        if names & self.blocked:
            return False
        return self.allowed is None or bool(names & self.allowed)

    def __str__(self) -> str:
        allowed = "any" if self.allowed is None else ",".join(sorted(self.allowed)) or "none"
        blocked = ",".join(sorted(self.blocked)) or "none"
        return f"allowed={allowed} blocked={blocked}"
