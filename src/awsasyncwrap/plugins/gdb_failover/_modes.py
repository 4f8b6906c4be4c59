"""What a Global Database failover targets, decided without I/O.

The mode is ``active_home_failover_mode`` while the writer (the latest the topology knows) runs in the
home region, else ``inactive_home_failover_mode``. A mode either follows the writer (``strict-writer``)
or names the hosts worth trying, in order: available readers first (shuffled), readers believed down
next, the failed host's reader entry after them, and the writer last when the mode allows it.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass

from ...hostinfo import HostInfo, HostRole
from .._gdb_regions import permitted, region_of
from ..failover._order import candidate_order
from ..settings.gdb_failover import MODES, parse_mode

__all__ = ["MODES", "Decision", "GdbMode", "decide", "mode_for", "parse_mode"]


class GdbMode(enum.Enum):
    """Where a Global Database failover goes (aws-advanced-wrapper names)."""

    STRICT_WRITER = "strict-writer"
    STRICT_HOME_READER = "strict-home-reader"
    STRICT_OUT_OF_HOME_READER = "strict-out-of-home-reader"
    STRICT_ANY_READER = "strict-any-reader"
    HOME_READER_OR_WRITER = "home-reader-or-writer"
    OUT_OF_HOME_READER_OR_WRITER = "out-of-home-reader-or-writer"
    ANY_READER_OR_WRITER = "any-reader-or-writer"

    @property
    def strict_reader(self) -> bool:
        """Only readers will do (a candidate must be verified to be one)."""
        return self in _STRICT_READERS

    @property
    def takes_writer(self) -> bool:
        """The writer is a candidate (after the readers)."""
        return self in _OR_WRITER


_STRICT_READERS = frozenset(
    {GdbMode.STRICT_HOME_READER, GdbMode.STRICT_OUT_OF_HOME_READER, GdbMode.STRICT_ANY_READER}
)
_OR_WRITER = frozenset(
    {GdbMode.HOME_READER_OR_WRITER, GdbMode.OUT_OF_HOME_READER_OR_WRITER, GdbMode.ANY_READER_OR_WRITER}
)
#: which readers a mode takes: True = home only, False = outside home only, None = any region
_READER_REGION: dict[GdbMode, bool | None] = {
    GdbMode.STRICT_HOME_READER: True,
    GdbMode.HOME_READER_OR_WRITER: True,
    GdbMode.STRICT_OUT_OF_HOME_READER: False,
    GdbMode.OUT_OF_HOME_READER_OR_WRITER: False,
    GdbMode.STRICT_ANY_READER: None,
    GdbMode.ANY_READER_OR_WRITER: None,
}


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome: follow the writer, or try ``candidates`` in order (none yet: wait and look again)."""

    mode: GdbMode
    #: whether the writer runs in the home region (the active-home mode applies)
    home_active: bool
    follow_writer: bool
    candidates: tuple[HostInfo, ...] = ()

    @property
    def verify_role(self) -> HostRole | None:
        """The role a candidate's connection must report (strict reader modes), or None."""
        return HostRole.READER if self.mode.strict_reader else None


def mode_for(
    hosts: Sequence[HostInfo], home: str, active: GdbMode, inactive: GdbMode
) -> tuple[GdbMode, bool]:
    """The mode in force and whether the home region is active (its writer is the topology's writer).

    No known writer (or one of unknown region) counts as the home region being active: the last writer
    this connection knew was there unless the topology said otherwise.
    """
    writer = next((h for h in hosts if h.role is HostRole.WRITER), None)
    region = region_of(writer) if writer is not None else None
    active_home = region is None or region == home
    return (active if active_home else inactive), active_home


def decide(
    hosts: Sequence[HostInfo],
    home: str,
    active: GdbMode,
    inactive: GdbMode,
    *,
    failed: frozenset[str] = frozenset(),
    accessible: frozenset[str] | None = None,
    rng: random.Random | None = None,
) -> Decision:
    """What failover should target given the topology's ``hosts``.

    ``failed``: aliases of the host that was just lost (tried last); ``accessible``: the regions of
    ``gdb_accessible_regions`` (None: all); ``rng`` shuffles the available readers (None: kept in order).
    """
    mode, home_active = mode_for(hosts, home, active, inactive)
    if mode is GdbMode.STRICT_WRITER:
        return Decision(mode, home_active, follow_writer=True)
    want_home = _READER_REGION[mode]
    readers = [
        h
        for h in hosts
        if h.role is HostRole.READER
        and permitted(h, accessible)
        and (want_home is None or (region_of(h) == home) is want_home)
    ]
    ordered = candidate_order(readers, failed, rng=rng)
    if mode.takes_writer:
        ordered += [h for h in hosts if h.role is HostRole.WRITER and permitted(h, accessible)]
    return Decision(mode, home_active, follow_writer=False, candidates=tuple(ordered))
