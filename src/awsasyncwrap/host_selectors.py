"""Host selectors: how a plugin picks one host of a role out of several (pure logic, no I/O).

Strategies (the values of ``reader_host_selector_strategy`` and
``failover_reader_host_selector_strategy``):

- ``random``: uniformly among the available hosts of the role;
- ``round_robin``: in turn, in host order; a host of weight *w*
  (``round_robin_host_weight_pairs``, else ``round_robin_default_weight``) gets *w* picks in a row.
  The cycle is shared by every connection of the process;
- ``weighted_random``: randomly, with probability proportional to the weight
  (``weighted_random_host_weight_pairs``, else ``weighted_random_default_weight``);
- ``least_connections``: the host with the fewest live connections (as counted by the caller);
- ``highest_weight``: the host whose :attr:`HostInfo.weight` is highest.

``fastest_response`` is answered by the ``fastest_response_strategy`` plugin, not here.

Weight pairs are ``name:weight`` separated by commas; ``name`` matches a host's instance id, its
host name, ``host:port`` or the first label of its host name (``instance-1`` for
``instance-1.xyz.us-east-1.rds.amazonaws.com``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from .errors import AwsConnectError, ConfigurationError
from .hostinfo import HostAvailability, HostInfo, HostRole
from .properties import WrapperProperty, register_property

__all__ = [
    "BUILTIN_STRATEGIES",
    "PLUGINLESS_STRATEGIES",
    "ROUND_ROBIN_DEFAULT_WEIGHT",
    "ROUND_ROBIN_HOST_WEIGHT_PAIRS",
    "WEIGHTED_RANDOM_DEFAULT_WEIGHT",
    "WEIGHTED_RANDOM_HOST_WEIGHT_PAIRS",
    "HighestWeightHostSelector",
    "HostSelector",
    "LeastConnectionsHostSelector",
    "RandomHostSelector",
    "RoundRobinHostSelector",
    "WeightedRandomHostSelector",
    "eligible_hosts",
    "parse_weight_pairs",
    "selector_for",
]


def parse_weight_pairs(value: object) -> dict[str, int]:
    """``"a:1,b:4"`` (or a mapping) as ``{"a": 1, "b": 4}``; every weight an int >= 1."""
    if isinstance(value, Mapping):
        items = [(str(k), v) for k, v in value.items()]
    else:
        items = []
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, text = part.rpartition(":")
            if not sep or not name.strip():
                raise ValueError(f"expected 'host:weight' pairs, got {part!r}")
            items.append((name.strip(), text.strip()))
    pairs: dict[str, int] = {}
    for name, raw in items:
        try:
            weight = int(str(raw))
        except ValueError:
            raise ValueError(f"weight of {name!r} is not an integer: {raw!r}") from None
        if weight < 1:
            raise ValueError(f"weight of {name!r} must be >= 1, got {weight}")
        pairs[name] = weight
    return pairs


def _parse_positive_int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer")
    return int(value) if isinstance(value, int) else int(str(value).strip())


ROUND_ROBIN_HOST_WEIGHT_PAIRS: WrapperProperty[dict[str, int]] = register_property(
    WrapperProperty(
        "round_robin_host_weight_pairs",
        "round_robin: comma-separated 'host:weight' pairs (weight >= 1): picks in a row per cycle.",
        None,
        parse_weight_pairs,
    )
)
ROUND_ROBIN_DEFAULT_WEIGHT: WrapperProperty[int] = register_property(
    WrapperProperty(
        "round_robin_default_weight",
        "round_robin: weight of hosts not named in round_robin_host_weight_pairs.",
        1,
        _parse_positive_int,
        min_value=1,
    )
)
WEIGHTED_RANDOM_HOST_WEIGHT_PAIRS: WrapperProperty[dict[str, int]] = register_property(
    WrapperProperty(
        "weighted_random_host_weight_pairs",
        "weighted_random: comma-separated 'host:weight' pairs (weight >= 1): relative probability.",
        None,
        parse_weight_pairs,
    )
)
WEIGHTED_RANDOM_DEFAULT_WEIGHT: WrapperProperty[int] = register_property(
    WrapperProperty(
        "weighted_random_default_weight",
        "weighted_random: weight of hosts not named in weighted_random_host_weight_pairs.",
        1,
        _parse_positive_int,
        min_value=1,
    )
)


class HostSelector(Protocol):
    """Picks one host of ``role`` out of ``hosts``."""

    def get_host(self, hosts: Sequence[HostInfo], role: HostRole, props: Mapping[str, Any]) -> HostInfo:
        """The chosen host; :class:`~awsasyncwrap.AwsConnectError` if no available host has the role."""
        ...


def eligible_hosts(hosts: Sequence[HostInfo], role: HostRole) -> list[HostInfo]:
    """The available hosts of ``role``, in a stable order (instance id, then url)."""
    found = [h for h in hosts if h.role is role and h.availability is HostAvailability.AVAILABLE]
    if not found:
        raise AwsConnectError(f"No available {role.value} host among {len(hosts)} host(s).")
    found.sort(key=lambda h: (h.host_id or "", h.url))
    return found


def _weight_of(host: HostInfo, weights: Mapping[str, int], default: int) -> int:
    for name in (host.host_id, host.host, host.url, host.host.split(".", 1)[0]):
        if name is not None and name in weights:
            return weights[name]
    return default


class RandomHostSelector:
    """Uniformly random among the available hosts of the role."""

    def get_host(self, hosts: Sequence[HostInfo], role: HostRole, props: Mapping[str, Any]) -> HostInfo:
        return random.choice(eligible_hosts(hosts, role))


class _Cycle:
    """Round-robin position shared by the hosts of one cluster."""

    __slots__ = ("last", "remaining")

    def __init__(self) -> None:
        self.last: str | None = None
        self.remaining = 0


class RoundRobinHostSelector:
    """Takes turns in host order; a host of weight *w* is picked *w* times in a row.

    The position is kept per cluster (found through any of its hosts), so every connection of the
    process shares one cycle, and a host joining or leaving does not restart it.
    """

    _cycles: dict[str, _Cycle] = {}

    def get_host(self, hosts: Sequence[HostInfo], role: HostRole, props: Mapping[str, Any]) -> HostInfo:
        candidates = eligible_hosts(hosts, role)
        weights = ROUND_ROBIN_HOST_WEIGHT_PAIRS.get(props) or {}
        default = ROUND_ROBIN_DEFAULT_WEIGHT.value(props)
        cycle = self._cycle_of(candidates)
        urls = [h.url for h in candidates]
        last = urls.index(cycle.last) if cycle.last in urls else -1
        if last >= 0 and cycle.remaining > 0:
            index = last
        else:
            index = (last + 1) % len(candidates)
            cycle.remaining = _weight_of(candidates[index], weights, default)
        cycle.remaining -= 1
        cycle.last = urls[index]
        return candidates[index]

    @classmethod
    def _cycle_of(cls, hosts: list[HostInfo]) -> _Cycle:
        cycle = next((c for h in hosts if (c := cls._cycles.get(h.url)) is not None), None) or _Cycle()
        for host in hosts:
            cls._cycles[host.url] = cycle
        return cycle

    @classmethod
    def clear(cls) -> None:
        """Forget every cycle (tests)."""
        cls._cycles.clear()


class WeightedRandomHostSelector:
    """Random, each host with probability proportional to its configured weight."""

    def get_host(self, hosts: Sequence[HostInfo], role: HostRole, props: Mapping[str, Any]) -> HostInfo:
        candidates = eligible_hosts(hosts, role)
        weights = WEIGHTED_RANDOM_HOST_WEIGHT_PAIRS.get(props) or {}
        default = WEIGHTED_RANDOM_DEFAULT_WEIGHT.value(props)
        return random.choices(candidates, [_weight_of(h, weights, default) for h in candidates])[0]


class LeastConnectionsHostSelector:
    """The host with the fewest live connections, as told by ``count``; ties broken at random."""

    def __init__(self, count: Callable[[HostInfo], int]) -> None:
        self._count = count

    def get_host(self, hosts: Sequence[HostInfo], role: HostRole, props: Mapping[str, Any]) -> HostInfo:
        counted = [(self._count(h), h) for h in eligible_hosts(hosts, role)]
        fewest = min(n for n, _ in counted)
        return random.choice([h for n, h in counted if n == fewest])


class HighestWeightHostSelector:
    """The host with the highest :attr:`HostInfo.weight` (the first in host order on a tie)."""

    def get_host(self, hosts: Sequence[HostInfo], role: HostRole, props: Mapping[str, Any]) -> HostInfo:
        candidates = eligible_hosts(hosts, role)
        best = max(h.weight for h in candidates)
        return next(h for h in candidates if h.weight == best)


_SIMPLE: dict[str, Callable[[], HostSelector]] = {
    "random": RandomHostSelector,
    "round_robin": RoundRobinHostSelector,
    "weighted_random": WeightedRandomHostSelector,
    "highest_weight": HighestWeightHostSelector,
}

#: Strategies answered by :func:`selector_for` (``fastest_response`` is a plugin's).
BUILTIN_STRATEGIES: tuple[str, ...] = (*_SIMPLE, "least_connections")
#: Strategies that need no plugin's state: the pipeline answers them itself when no plugin does.
PLUGINLESS_STRATEGIES: frozenset[str] = frozenset(_SIMPLE)


def selector_for(strategy: str, count: Callable[[HostInfo], int] | None = None) -> HostSelector:
    """The selector of a built-in strategy; ``count`` (live connections per host) for least_connections."""
    if strategy == "least_connections":
        if count is None:
            raise ConfigurationError("The least_connections strategy needs a connection counter.")
        return LeastConnectionsHostSelector(count)
    factory = _SIMPLE.get(strategy)
    if factory is None:
        raise ConfigurationError.bad_choice("host selector strategy", strategy, BUILTIN_STRATEGIES)
    return factory()
