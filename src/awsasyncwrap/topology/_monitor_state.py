"""The topology monitor's mode decisions, without I/O: normal refresh or verification, the pause between
rounds, the high-rate hold, when a writer counts as verified, and what one topology read means.

:class:`RefreshModes` holds the two instants those decisions rest on: since when a verified writer is
wanted (a reported failure, or the monitor's own connection failing) and until when the high rate holds.
The async runner (``_monitor.ClusterTopologyMonitor._run`` and the verification of ``_verification``)
performs the rounds and passes the time in (``time.monotonic()``), so unit tests drive every mode change
without an event loop.
"""

from __future__ import annotations

import enum

from ..hostinfo import HostInfo
from ._model import Topology

__all__ = ["ReadVerdict", "RefreshModes", "judge_read", "writer_verified_since"]


def writer_verified_since(topology: Topology | None, since: float) -> HostInfo | None:
    """The writer of ``topology`` if it was verified at or after ``since`` (what a failover accepts)."""
    if topology is None or topology.verified_at is None or topology.verified_at < since:
        return None
    return topology.writer


class RefreshModes:
    """When the monitor verifies the writer, and how long it pauses between rounds."""

    __slots__ = ("_high_rate", "_hold", "_refresh_rate", "high_until", "requested_since")

    def __init__(self, refresh_rate: float, high_rate: float, hold: float) -> None:
        self._refresh_rate = refresh_rate
        self._high_rate = high_rate
        self._hold = hold
        #: a writer verified at or after this instant is wanted (0: never asked)
        self.requested_since = 0.0
        #: the high rate (and keeping the known replicas) holds until this instant
        self.high_until = 0.0

    def request(self, since: float) -> None:
        """A failure was seen at ``since``: a writer verified after it is wanted."""
        if since > self.requested_since:
            self.requested_since = since

    def needs_verification(self, verified_at: float | None) -> bool:
        """Whether the next round is a verification (the last verified writer predates the request)."""
        if self.requested_since <= 0:
            return False
        return (verified_at if verified_at is not None else 0.0) < self.requested_since

    def high_rate(self, now: float, verified_at: float | None) -> bool:
        """Whether the monitor is in its high refresh rate (verifying, or holding after it)."""
        return self.needs_verification(verified_at) or now < self.high_until

    def holding(self, now: float) -> bool:
        """Whether the high-rate hold is on (a read on the writer keeps the replicas it knew)."""
        return now < self.high_until

    def hold_from(self, now: float) -> None:
        """A verification started or ended at ``now``: keep the high rate for the hold after it."""
        self.high_until = now + self._hold

    def round_failed(self, now: float, verified_at: float | None) -> None:
        """The monitor's own round failed at ``now``: look for the writer (unless already looking)."""
        if not self.needs_verification(verified_at):
            self.requested_since = now

    def pause_after_round(self, now: float, verified_at: float | None) -> float | None:
        """Seconds to sleep before the next round; None: a verification is due, go on at once."""
        if self.needs_verification(verified_at):
            return None
        return self._high_rate if now < self.high_until else self._refresh_rate


class ReadVerdict(enum.Enum):
    """What one read of role and topology on the monitoring connection means."""

    ON_WRITER = "on_writer"  # publish the topology with its writer verified
    DISAGREES = "disagrees"  # a reader's table names another writer than the verified one: verify
    ON_READER = "on_reader"  # publish it (unverified), then move the connection to the writer
    PUBLISH = "publish"  # publish it (unverified)


def judge_read(
    is_reader: bool,
    host_id: str | None,
    previous: Topology | None,
    named_writer: HostInfo | None,
    connected: bool = True,
) -> ReadVerdict:
    """The meaning of a read on the instance ``host_id`` (None: not identified) whose topology names
    ``named_writer``; ``previous``: the topology published before; ``connected``: the host is known."""
    if not is_reader and host_id is not None:
        return ReadVerdict.ON_WRITER
    if previous is not None and previous.verified_at is not None and previous.writer != named_writer:
        return ReadVerdict.DISAGREES
    if named_writer is not None and connected and named_writer.host_id != host_id:
        return ReadVerdict.ON_READER
    return ReadVerdict.PUBLISH
