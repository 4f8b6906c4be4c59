"""Which hosts ``gdb_rw`` may switch to (pure: no I/O)."""

from __future__ import annotations

import enum
from collections.abc import Sequence

from ...hostinfo import HostInfo, HostRole
from .._gdb_regions import permitted, region_of

__all__ = ["WriterVerdict", "reader_hosts", "writer_verdict"]


class WriterVerdict(enum.Enum):
    """What ``set_read_only(False)`` does about the writer."""

    SWITCH = "switch"  # open (or reuse) a connection to it
    STAY = "stay"  # keep the reader: its cluster forwards writes (global write forwarding)
    REFUSE = "refuse"  # raise: the writer is out of bounds


def reader_hosts(
    hosts: Sequence[HostInfo], home: str, restrict: bool, accessible: frozenset[str] | None
) -> list[HostInfo]:
    """The readers ``set_read_only(True)`` may pick: home-region ones when restricted, accessible ones."""
    return [
        h
        for h in hosts
        if h.role is HostRole.READER and permitted(h, accessible) and (not restrict or region_of(h) == home)
    ]


def writer_verdict(
    writer: HostInfo | None,
    home: str,
    restrict: bool,
    forwarding: bool,
    accessible: frozenset[str] | None,
) -> WriterVerdict:
    """Whether to switch to ``writer`` (None: unknown, the cluster endpoint is tried), stay, or refuse."""
    if writer is None:
        return WriterVerdict.SWITCH
    outside = (restrict and region_of(writer) != home) or not permitted(writer, accessible)
    if not outside:
        return WriterVerdict.SWITCH
    return WriterVerdict.STAY if forwarding else WriterVerdict.REFUSE
