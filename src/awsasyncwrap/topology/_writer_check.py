"""The writer check's verdict (pure logic): did the writer change while calls on it are stuck?

When calls on the writer ``H`` stay in flight for ``stuck_call_topology_check_ms``, the topology monitor
asks every other instance two questions: "are you a reader?" and "who is the writer in your topology?".
The writer changed only when both agree: some instance other than ``H`` answers "not a reader" *and* a
topology (its own or a reader's) names it the writer. Only then is anything done (the monitor verifies
the new writer and publishes it). Half an answer (a table naming another writer that still is a reader,
or a writable instance no table names yet) means a failover is in progress: look again soon.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from ..hostinfo import HostInfo

__all__ = ["CheckAnswer", "Verdict", "judge", "same_host"]


class Verdict(enum.Enum):
    """What one writer check found."""

    UNCHANGED = "unchanged"  # every answer still has the suspect as the writer (or no answer came)
    PENDING = "pending"  # the answers disagree: a failover may be under way
    CHANGED = "changed"  # another instance is writable and named the writer


@dataclass(frozen=True, slots=True)
class CheckAnswer:
    """What one instance said: whether it is a reader, and the writer its topology names."""

    host: HostInfo
    #: None: no answer (connect or query failed or timed out)
    is_reader: bool | None
    named_writer: HostInfo | None = None


def same_host(a: HostInfo | None, b: HostInfo | None) -> bool:
    """Whether two host infos name the same instance (:meth:`HostInfo.same_instance`)."""
    return a is not None and a.same_instance(b)


def judge(suspect: HostInfo, answers: Iterable[CheckAnswer]) -> tuple[Verdict, HostInfo | None]:
    """The verdict on the writer ``suspect``, and the new writer when it changed."""
    writable: list[HostInfo] = []
    named: list[HostInfo] = []
    for answer in answers:
        if answer.is_reader is False and not same_host(answer.host, suspect):
            writable.append(answer.host)
        if answer.named_writer is not None and not same_host(answer.named_writer, suspect):
            named.append(answer.named_writer)
    for host in writable:
        if any(same_host(host, other) for other in named):
            return Verdict.CHANGED, host
    return (Verdict.PENDING if writable or named else Verdict.UNCHANGED), None
