"""The topology monitor's writer-check episodes, decided without I/O: whether calls stuck on a host start
one, when the next check of an episode runs, and when the episode ends.

An episode runs one check right away; a check that found the answers disagreeing (a failover under way,
:data:`~._writer_check.Verdict.PENDING`) is followed by another one high-rate period after it started (at
most :data:`MAX_QUICK_CHECKS` in a row), any other by one a whole period later, and only if calls are still
reported stuck by then. It ends when a check found the new writer, when no report came, when a
verification is in progress or when the writer changed. The async runner is
``_stuck_writer.StuckWriterChecks._writer_checks``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..hostinfo import HostInfo
from ._writer_check import Verdict, same_host

__all__ = ["MAX_QUICK_CHECKS", "NextCheck", "StuckWriterEpisode", "check_wanted"]

#: Writer checks in a row that may follow each other at the high rate while a failover is in progress.
MAX_QUICK_CHECKS = 10


def check_wanted(host: HostInfo, writer: HostInfo | None, *, period: float, verifying: bool) -> bool:
    """Whether calls stuck on ``host`` call for a writer check (``host`` is the writer, none is on)."""
    return period > 0 and not verifying and same_host(writer, host)


@dataclass(frozen=True, slots=True)
class NextCheck:
    """Run the next check at ``at`` (``time.monotonic()``); first wait for a new report if asked to."""

    at: float
    needs_report: bool


class StuckWriterEpisode:
    """The schedule of one episode of calls stuck on the writer ``suspect``."""

    __slots__ = ("_high_rate", "_period", "_quick", "suspect")

    def __init__(self, suspect: HostInfo, high_rate: float, period: float) -> None:
        self.suspect = suspect
        self._high_rate = high_rate
        self._period = period
        self._quick = 0

    def after_check(self, verdict: Verdict, started: float) -> NextCheck | None:
        """The next check after one that started at ``started`` and found ``verdict``; None: done."""
        if verdict is Verdict.CHANGED:
            return None
        self._quick = self._quick + 1 if verdict is Verdict.PENDING else 0
        soon = verdict is Verdict.PENDING and self._quick <= MAX_QUICK_CHECKS
        return NextCheck(started + (self._high_rate if soon else self._period), needs_report=not soon)

    def goes_on(self, writer: HostInfo | None, verifying: bool) -> bool:
        """Whether the episode goes on: no verification in progress and ``writer`` still the suspect."""
        return not verifying and same_host(writer, self.suspect)
