"""How often a verification asks the instances "are you a reader?" (pure logic).

A fixed period quantizes recovery: a writer promoted just after a poll is found one whole period later
(the old 100 ms high rate put some crash failovers 0.1 s behind the others). Instead, the pause before
the next poll is a share of the time the verification has already taken, between a small floor and the
high rate: a writer promoted ``t`` seconds into the verification is found at most ``max(FIRST_PAUSE,
GROWTH * t)`` later (5 ms up to 80 ms, 12.5 ms at 0.2 s, the high rate from 1.6 s on). That costs
about 50 polls more per instance and failover (about 65 in the first 1.6 s instead of 16) and
nothing once the high rate is reached; the steady state (no verification) is unchanged.

A probe whose host refused a connection tries again after :data:`DISCOVERY_AFTER` at most, whatever
the configured high rate: an instance restarting into its new role is found within 0.1 s of accepting
connections, not one (possibly long) high-rate period later.
"""

from __future__ import annotations

__all__ = ["DISCOVERY_AFTER", "FIRST_PAUSE", "GROWTH", "Backoff", "probe_pause", "reconnect_pause"]

#: the shortest pause between two polls of one instance (seconds)
FIRST_PAUSE = 0.005
#: the pause as a share of the time the verification has taken so far
GROWTH = 1 / 16


#: the longest pause of a verification's probe before it connects again to a host that refused (seconds)
DISCOVERY_AFTER = 0.1


def reconnect_pause(high_rate: float) -> float:
    """Seconds a verification's probe waits before connecting again to a host that refused."""
    return min(high_rate, DISCOVERY_AFTER)


def probe_pause(elapsed: float, high_rate: float) -> float:
    """Seconds to wait before the next poll of a verification that started ``elapsed`` s ago."""
    return min(high_rate, max(FIRST_PAUSE, elapsed * GROWTH))


class Backoff:
    """When to try again to open a spare connection to a host that refused one.

    The first retry after ``first`` seconds, each later one twice as late, at most ``most``; a success
    resets the host.
    """

    __slots__ = ("_first", "_most", "_next")

    def __init__(self, first: float, most: float) -> None:
        self._first = first
        self._most = max(first, most)
        self._next: dict[str, tuple[float, float]] = {}  # url -> (when the next try is due, its delay)

    def due(self, url: str, now: float) -> bool:
        """Whether a connection to ``url`` may be tried at ``now``."""
        entry = self._next.get(url)
        return entry is None or now >= entry[0]

    def failed(self, url: str, now: float) -> None:
        """A try at ``now`` failed."""
        entry = self._next.get(url)
        delay = self._first if entry is None else min(self._most, 2 * entry[1])
        self._next[url] = (now + delay, delay)

    def succeeded(self, url: str) -> None:
        """A try succeeded: the next failure starts over."""
        self._next.pop(url, None)

    def forget(self, keep: set[str]) -> None:
        """Drop every host not in ``keep``."""
        for url in [u for u in self._next if u not in keep]:
            del self._next[url]
