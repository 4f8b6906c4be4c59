"""Router weights and choice of the ``limitless`` plugin (pure logic)."""

from __future__ import annotations

import random

import pytest

from awsasyncwrap.plugins.limitless._routers import (
    Router,
    highest_weight,
    pick_weighted,
    routers_from_rows,
    weight_of,
)


@pytest.mark.parametrize(
    ("load", "weight"),
    [
        (0.0, 10),
        (0.05, 10),
        (0.1, 9),
        (0.55, 5),
        (0.91, 1),
        (0.99, 1),
        (1.0, 1),
        (1.7, 1),
        (-0.5, 1),
        (None, 1),
    ],
)
def test_weight_is_ten_minus_tenths_of_load_and_one_outside_range(load: object, weight: int) -> None:
    assert weight_of(load) == weight


def test_rows_become_sorted_routers_and_empty_names_are_skipped() -> None:
    rows = [("r2", 0.5), ("r1", "0.0"), ("", 0.1), (None, 0.2)]
    assert routers_from_rows(rows) == (Router("r1", 10), Router("r2", 5))


def test_pick_follows_the_weights() -> None:
    routers = [Router("a", 10), Router("b", 5), Router("c", 1)]
    rng = random.Random(1)
    counts = {r.host: 0 for r in routers}
    for _ in range(16_000):
        counts[pick_weighted(routers, rng).host] += 1
    assert counts["a"] == pytest.approx(10_000, rel=0.05)
    assert counts["b"] == pytest.approx(5_000, rel=0.05)
    assert counts["c"] == pytest.approx(1_000, rel=0.15)


def test_highest_weight_takes_the_first_on_a_tie() -> None:
    assert highest_weight([Router("a", 3), Router("b", 7), Router("c", 7)]).host == "b"
