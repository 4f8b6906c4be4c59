"""What a read/write switch does, decided without I/O.

The switching engine (:mod:`._switcher`) observes (where the current connection is, whether a
transaction is open, which cached connections exist and what happened to their hosts), asks these
functions for the next step and carries it out. Every branch here is covered by unit tests that run in
milliseconds; the engine only does the I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Set

from ...events import HostEvent
from ...hostinfo import HostInfo, HostRole

__all__ = ["Step", "after_no_reader", "cached_fits", "events_of", "gone_urls", "next_step"]

_GONE = frozenset({HostEvent.WENT_DOWN, HostEvent.HOST_DELETED})
_CONVERTED = {HostEvent.CONVERTED_TO_WRITER: HostRole.WRITER, HostEvent.CONVERTED_TO_READER: HostRole.READER}


class Step(enum.Enum):
    """The next thing a switch does."""

    STAY = "stay"  # the connection already is where it was asked to be
    REFUSE = "refuse"  # it would move, but a transaction is open on it
    USE_CACHED = "use_cached"  # make the cached connection of the wanted role current
    OPEN = "open"  # open a new connection of the wanted role and make it current
    KEEP_WRITER = "keep_writer"  # no reader reachable: read from the writer (rw_fallback_to_writer)
    FAIL = "fail"  # no reader reachable and no fallback: the switch fails


def next_step(read_only: bool, on_reader: bool, in_transaction: bool, cached: bool) -> Step:
    """The step of ``set_read_only(read_only)`` when the current connection is (``on_reader``) or is
    not on a reader, a transaction is open or not, and a connection of the wanted role is ``cached``."""
    if on_reader == read_only:
        return Step.STAY
    if in_transaction:
        return Step.REFUSE
    return Step.USE_CACHED if cached else Step.OPEN


def after_no_reader(fallback_to_writer: bool) -> Step:
    """What ``set_read_only(True)`` does when no reader could be reached."""
    return Step.KEEP_WRITER if fallback_to_writer else Step.FAIL


def events_of(host: HostInfo, changes: Mapping[str, Set[HostEvent]]) -> set[HostEvent]:
    """The events that ``changes`` (per host URL) name for any alias of ``host``."""
    events: set[HostEvent] = set()
    for alias in host.all_aliases:
        events |= changes.get(alias, set())
    return events


def cached_fits(role: HostRole, events: Set[HostEvent]) -> bool:
    """Whether a cached connection serving ``role`` may be kept after its host's ``events``: not when
    the host went away, nor when it was converted to the other role."""
    if events & _GONE:
        return False
    converted = {_CONVERTED[e] for e in events if e in _CONVERTED}
    return not converted or role in converted


def gone_urls(changes: Mapping[str, Set[HostEvent]]) -> set[str]:
    """The hosts of ``changes`` that went down or left the topology (their pools are emptied)."""
    return {url for url, events in changes.items() if events & _GONE}
