"""The order in which a failover tries hosts, decided without I/O.

Shared by ``failover`` (reader modes) and ``gdb_failover`` (every mode but strict-writer): available
readers first (shuffled, or led by the reader host selector strategy's pick), readers believed down next,
the failed host's own reader entry after them (a restarted reader), and the writer last when the mode
takes it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from ...hostinfo import HostAvailability, HostInfo

__all__ = ["candidate_order"]


def candidate_order(
    readers: Sequence[HostInfo],
    failed: frozenset[str],
    writer: HostInfo | None = None,
    *,
    rng: random.Random | None = None,
    first: Callable[[list[HostInfo]], HostInfo | None] | None = None,
) -> list[HostInfo]:
    """``readers`` (then ``writer``, if given) in the order a failover tries them.

    ``failed``: the aliases of the host that was just lost; ``rng`` shuffles the available readers (None:
    kept in order); ``first`` picks the one among them to try first (a host selector strategy).
    """
    fresh = [h for h in readers if not (h.all_aliases & failed)]
    up = [h for h in fresh if h.availability is HostAvailability.AVAILABLE]
    if rng is not None:
        rng.shuffle(up)
    ordered = up + [h for h in fresh if h.availability is not HostAvailability.AVAILABLE]
    pick = first(up) if first is not None and up else None
    if pick is not None:
        ordered = [pick] + [h for h in ordered if h != pick]
    ordered += [h for h in readers if h.all_aliases & failed]
    if writer is not None:
        ordered.append(writer)
    return ordered
