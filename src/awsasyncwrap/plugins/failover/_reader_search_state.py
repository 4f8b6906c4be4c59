"""A reader-mode failover's search for a host (strict_reader, reader_or_writer), decided without I/O.

Each round tries the candidates the runner computed from the latest topology (in
:func:`~._order.candidate_order`'s order) one after the other (:class:`~._steps.Connect`, asking the role
in strict_reader mode) until one works (:class:`~._steps.Found`); a round without one pauses for the high
refresh rate and starts over on the topology of then. The deadline, a stop and a closed monitor end the
search (:class:`~._steps.Fail`).

The async runner (``_search.HostSearch._to_reader``) performs each step and reports what it saw; the time
is always passed in, so unit tests drive every scenario without an event loop.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...hostinfo import HostInfo, HostRole
from ._steps import Connect, Fail, Found, Pause, ReaderStep

__all__ = ["ReaderSearch"]


class ReaderSearch:
    """The decisions of one reader search: every method takes an observation and returns the next step."""

    __slots__ = ("_candidate", "_pause", "_queue", "_strict", "_timeout", "deadline")

    def __init__(self, deadline: float, timeout: float, strict: bool, pause: float) -> None:
        """``strict``: strict_reader (a candidate must answer as a reader; the writer is never one);
        ``pause``: between rounds (the high refresh rate)."""
        self.deadline = deadline
        self._timeout = timeout
        self._strict = strict
        self._pause = pause
        self._queue: list[HostInfo] = []
        self._candidate: HostInfo | None = None

    def next_round(
        self, candidates: Sequence[HostInfo] | None, now: float, stopped: str | None = None
    ) -> ReaderStep:
        """Start a round on ``candidates`` (in order; None: the topology monitor was stopped)."""
        if candidates is None:
            return Fail("the cluster's topology monitor was stopped (release_resources())")
        self._queue = list(candidates)
        return self._next(now, stopped)

    def on_connected(self, ok: bool, now: float, stopped: str | None = None) -> ReaderStep:
        """The outcome of :class:`Connect`: False if the host refused, failed or answered as a writer."""
        host = self._candidate
        assert host is not None, "on_connected() without a Connect step"
        self._candidate = None
        if ok:
            return Found(host.with_role(HostRole.WRITER if host.role is HostRole.WRITER else HostRole.READER))
        return self._next(now, stopped)

    def _next(self, now: float, stopped: str | None) -> ReaderStep:
        if self._queue:
            if stopped is not None:
                return Fail(f"stopped: {stopped}")
            if now < self.deadline:
                self._candidate = self._queue.pop(0)
                return Connect(self._candidate, HostRole.READER if self._strict else None)
            self._queue = []
        remaining = self.deadline - now
        if remaining <= 0:
            return Fail(f"no {'reader' if self._strict else 'host'} within {self._timeout:g} s")
        return Pause(min(self._pause, remaining))
