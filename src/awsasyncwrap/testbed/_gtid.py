"""MariaDB GTID positions (``D-S-N[,...]``) read as numbers: how far a replica got (pure, no I/O)."""

from __future__ import annotations

__all__ = ["gtid_progress", "gtid_triples", "has_received"]


def gtid_progress(pos: str | None) -> int:
    """Progress of a GTID position ``D-S-N[,...]`` as one number (sum of sequence numbers)."""
    return sum(int(part.rsplit("-", 1)[1]) for part in (pos or "").split(",") if part.count("-") == 2)


def gtid_triples(pos: str | None) -> list[tuple[int, int, int]]:
    """A GTID position ``D-S-N[,...]`` as (domain, server id, sequence number) triples."""
    return [
        (int(d), int(s), int(n))
        for d, s, n in (part.strip().split("-") for part in (pos or "").split(",") if part.count("-") == 2)
    ]


def has_received(pos: str | None, probe: tuple[int, int, int]) -> bool:
    """True if ``pos`` is at or past the master's ``probe`` GTID, an event only that master wrote.

    Sequence numbers alone would not do: a diverged replica may hold higher ones from another server.
    """
    domain, server, seq = probe
    return any(d == domain and s == server and n >= seq for d, s, n in gtid_triples(pos))
