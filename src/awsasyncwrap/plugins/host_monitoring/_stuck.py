"""When to report calls stuck on a host: :class:`StuckCallWatch` (pure logic, no clock of its own).

A host monitor with listeners (the cluster's topology monitor) reports "calls on this host have been in
flight for ``stuck_call_topology_check_ms``" at most once per that period while they stay stuck. The
monitor drives the watch with one timer of its own (never one per call) and the current time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...hostinfo import HostInfo

__all__ = ["StuckCallWatch", "StuckCallsListener"]

#: Told that calls on the host have been in flight for the threshold (must not block or raise).
StuckCallsListener = Callable[["HostInfo"], None]


class StuckCallWatch:
    """Decides, from the start of the oldest call in flight, when to report and when to look again."""

    __slots__ = ("last_report", "threshold")

    def __init__(self, threshold: float) -> None:
        #: seconds a call runs before it counts as stuck (also the least time between two reports)
        self.threshold = threshold
        self.last_report = -math.inf

    def step(self, now: float, oldest_start: float | None) -> tuple[bool, float]:
        """Whether to report at ``now``, and the time to look again.

        ``oldest_start``: when the oldest call still in flight started (None: nothing in flight).
        """
        threshold = self.threshold
        if oldest_start is None:
            return False, now + threshold
        due = max(oldest_start + threshold, self.last_report + threshold)
        if due <= now:
            self.last_report = now
            return True, now + threshold
        return False, due
