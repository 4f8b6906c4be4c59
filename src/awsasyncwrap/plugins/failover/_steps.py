"""The steps a failover's host search asks its async runner to take (see :mod:`._writer_search_state`
and :mod:`._reader_search_state`). Plain values: the runner does the I/O and reports back."""

from __future__ import annotations

from dataclasses import dataclass

from ...hostinfo import HostInfo, HostRole

__all__ = ["AwaitWriter", "Connect", "Fail", "Found", "Pause", "ReaderStep", "Step"]


@dataclass(frozen=True, slots=True)
class AwaitWriter:
    """Ask the topology monitor for a writer verified at or after ``since``; wait up to ``within`` s."""

    since: float
    within: float


@dataclass(frozen=True, slots=True)
class Connect:
    """Connect to ``host`` and re-apply the session state; ask its role first unless ``want`` is None."""

    host: HostInfo
    want: HostRole | None


@dataclass(frozen=True, slots=True)
class Pause:
    """Sleep ``seconds`` (0: one turn of the event loop), then start the next round."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Found:
    """Done: the connection just opened is the failover's, to ``host``."""

    host: HostInfo


@dataclass(frozen=True, slots=True)
class Fail:
    """Done: the failover failed (raise ``FailoverFailedError(reason)``)."""

    reason: str


#: what a reader search asks for (it never waits for the monitor's verdict)
ReaderStep = Connect | Pause | Found | Fail
Step = AwaitWriter | ReaderStep
