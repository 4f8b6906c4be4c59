"""A strict-writer failover's search for the new writer, decided without I/O.

Each round asks the topology monitor for a writer verified after the failure (:class:`~._steps.AwaitWriter`),
connects to it (:class:`~._steps.Connect`, with a role check unless the verdict is fresh), and ends
(:class:`~._steps.Found`); a round without a usable writer pauses (10 ms, doubling up to the high refresh
rate) and asks again, for a writer verified after the attempt that failed. The deadline, a stop, a closed
monitor and a writer this connection may not use end the search (:class:`~._steps.Fail`).

The async runner (``_search.HostSearch._to_writer``) performs each step and reports what it saw; the time
is always passed in (``time.monotonic()``), so unit tests drive every scenario without an event loop.
"""

from __future__ import annotations

from collections.abc import Callable

from ...hostinfo import HostInfo, HostRole
from ...topology import Topology
from ...topology._monitor_state import writer_verified_since
from ._steps import AwaitWriter, Connect, Fail, Found, Pause, Step

__all__ = ["FIRST_RETRY_PAUSE", "VERIFIED_FRESH", "WriterSearch", "role_check_needed"]

#: seconds before a failover retries the writer after a round failed (never without a pause)
FIRST_RETRY_PAUSE = 0.01

#: a writer the monitor verified less than this many seconds ago is taken without asking the new
#: connection its role again (a round trip on the critical path; a demotion within 0.1 s of a
#: promotion is not a failover this wrapper can see anyway, and the next call would fail over again)
VERIFIED_FRESH = 0.1


def role_check_needed(verified_at: float | None, now: float) -> bool:
    """Whether a failover must ask the new writer's connection its role (the verdict is not fresh)."""
    return verified_at is None or not (0.0 <= now - verified_at < VERIFIED_FRESH)


class WriterSearch:
    """The decisions of one writer search: every method takes an observation and returns the next step."""

    __slots__ = (
        "_candidate",
        "_last_error",
        "_most",
        "_pause",
        "_permits",
        "_timeout",
        "_where",
        "deadline",
        "since",
    )

    def __init__(
        self,
        since: float,
        deadline: float,
        timeout: float,
        most_pause: float,
        permits: Callable[[HostInfo], bool] = lambda _host: True,
        allowed: object = None,
    ) -> None:
        """``since``: when the failure was seen; ``most_pause``: the longest pause between rounds (the
        high refresh rate); ``permits``/``allowed``: the hosts this connection may use and their name."""
        self.since = since
        self.deadline = deadline
        self._timeout = timeout
        self._pause = FIRST_RETRY_PAUSE
        self._most = max(most_pause, FIRST_RETRY_PAUSE)
        self._permits = permits
        self._where = allowed
        self._last_error = "timeout"
        self._candidate: HostInfo | None = None

    def next_round(self, now: float, stopped: str | None = None, monitor_closed: bool = False) -> Step:
        """Start a round (first, then after each pause); ``stopped``: why the failover was stopped."""
        if stopped is not None:
            return Fail(f"stopped: {stopped}")
        remaining = self.deadline - now
        if remaining <= 0:
            return Fail(f"no writer within {self._timeout:g} s ({self._last_error})")
        if monitor_closed:
            return Fail("the cluster's topology monitor was stopped (release_resources())")
        return AwaitWriter(self.since, remaining)

    def on_topology(self, topology: Topology | None, now: float) -> Step:
        """The monitor's answer to :class:`AwaitWriter` (None: no verified writer in time)."""
        writer = writer_verified_since(topology, self.since)
        if writer is None or topology is None:
            return self._pause_step(now)
        if not self._permits(writer):
            return Fail(
                f"the new writer {writer.url} is not among the instances this connection may use "
                f"({self._where}: the custom endpoint's members)"
            )
        self._candidate = writer
        return Connect(writer, HostRole.WRITER if role_check_needed(topology.verified_at, now) else None)

    def on_connected(self, ok: bool, now: float) -> Step:
        """The outcome of :class:`Connect`: False if the writer refused, failed or answered as a reader."""
        writer = self._candidate
        assert writer is not None, "on_connected() without a Connect step"
        if ok:
            return Found(writer)
        self._candidate = None
        self._last_error = f"could not use writer {writer.url}"
        self.since = now  # the verified writer failed us: ask for a newer one
        return self._pause_step(now)

    def _pause_step(self, now: float) -> Pause:
        seconds = max(0.0, min(self._pause, self.deadline - now))
        self._pause = min(self._pause * 2, self._most)
        return Pause(seconds)
