"""Transaction routers of a Limitless shard group, and how a connect picks one (pure logic)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["ROUTERS_QUERY", "Router", "highest_weight", "pick_weighted", "routers_from_rows", "weight_of"]

#: What Aurora PostgreSQL Limitless answers on every router.
ROUTERS_QUERY = "SELECT router_endpoint, load FROM pg_catalog.aurora_limitless_router_endpoints()"


@dataclass(frozen=True)
class Router:
    """One transaction router: its host name and its weight (10 idle .. 1 busy)."""

    host: str
    weight: int


def weight_of(load: object) -> int:
    """``10 - floor(load * 10)``; a load that gives a weight outside 1..10 (or none) counts as 1."""
    try:
        weight = 10 - math.floor(float(load) * 10)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return 1
    return weight if 1 <= weight <= 10 else 1


def routers_from_rows(rows: Iterable[Sequence[object]]) -> tuple[Router, ...]:
    """The routers of the query's rows, in a stable order."""
    found = [Router(str(row[0]), weight_of(row[1])) for row in rows if row and row[0]]
    return tuple(sorted(found, key=lambda r: r.host))


def pick_weighted(routers: Sequence[Router], rng: random.Random | None = None) -> Router:
    """A router chosen at random, each as likely as its weight."""
    chooser = rng or random
    return chooser.choices(list(routers), weights=[r.weight for r in routers], k=1)[0]


def highest_weight(routers: Sequence[Router]) -> Router:
    """The least loaded router (the first of them on a tie)."""
    return max(routers, key=lambda r: r.weight)
