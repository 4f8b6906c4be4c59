"""One probe of a verification (one instance polled for "are you a reader?"), decided without I/O.

A probe starts on the instance's spare connection if it has one, else it connects. It asks the role; an
instance answering "not a reader" is the writer (done). The first reader answer is followed by one
topology read (to probe instances nobody knew). Polls of an open connection follow the growing pauses of
:func:`~._schedule.probe_pause`; after a failure the connection is dropped and the next connect waits
:func:`~._schedule.reconnect_pause`, except the first failure of a spare (gone stale while idle), which
connects again at once. The async runner is ``_verification.WriterVerification._probe``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ._schedule import probe_pause, reconnect_pause

__all__ = ["Probe", "ProbeAction", "ProbeStep"]


class ProbeAction(enum.Enum):
    """What a probe does next."""

    CONNECT = "connect"  # open a connection to the instance
    ASK_ROLE = "ask_role"  # "are you a reader?" on the open connection
    READ_TOPOLOGY = "read_topology"  # read its topology and probe the instances it names
    PAUSE = "pause"  # wait ``pause`` seconds (less if the writer is found meanwhile)
    FOUND = "found"  # it answered "not a reader": the writer


@dataclass(frozen=True, slots=True)
class ProbeStep:
    """A probe's next action (``pause``: seconds, for :attr:`ProbeAction.PAUSE`)."""

    action: ProbeAction
    pause: float = 0.0


_CONNECT = ProbeStep(ProbeAction.CONNECT)
_ASK_ROLE = ProbeStep(ProbeAction.ASK_ROLE)
_READ_TOPOLOGY = ProbeStep(ProbeAction.READ_TOPOLOGY)
_FOUND = ProbeStep(ProbeAction.FOUND)


class Probe:
    """The decisions of one probe: every method takes an observation and returns the next step."""

    __slots__ = ("_connected", "_discovered", "_high_rate", "_spare", "_started")

    def __init__(self, spare: bool, started: float, high_rate: float) -> None:
        """``spare``: it starts on an idle spare connection; ``started``: when the verification started."""
        self._connected = spare
        self._spare = spare
        self._discovered = False
        self._started = started
        self._high_rate = high_rate

    def first(self) -> ProbeStep:
        """The probe's first step."""
        return self.on_pause_over()

    def on_connected(self) -> ProbeStep:
        """The connect succeeded."""
        self._connected = True
        return _ASK_ROLE

    def on_role(self, is_reader: bool, now: float) -> ProbeStep:
        """The instance answered whether it is a reader."""
        if not is_reader:
            return _FOUND
        if not self._discovered:  # a reader knows the instances: probe any we did not know
            self._discovered = True
            return _READ_TOPOLOGY
        return self._pause(now)

    def on_topology(self, now: float) -> ProbeStep:
        """Its topology was read (and the instances it names are probed)."""
        return self._pause(now)

    def on_failure(self, now: float) -> ProbeStep:
        """The connect or a query failed; the connection (if any) is dropped."""
        self._connected = False
        if self._spare:  # a spare gone stale while idle: connect now, no pause
            self._spare = False
            return _CONNECT
        return self._pause(now)

    def on_pause_over(self) -> ProbeStep:
        """The pause ended (and no writer was found meanwhile)."""
        return _ASK_ROLE if self._connected else _CONNECT

    def _pause(self, now: float) -> ProbeStep:
        if self._connected:
            return ProbeStep(ProbeAction.PAUSE, probe_pause(now - self._started, self._high_rate))
        return ProbeStep(ProbeAction.PAUSE, reconnect_pause(self._high_rate))
