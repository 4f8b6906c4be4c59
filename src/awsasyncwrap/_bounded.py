"""A process-wide cache that keeps at most a fixed number of entries (the oldest go first)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

__all__ = ["ArgsKey", "remember"]

V = TypeVar("V")


def remember(cache: dict[Hashable, V], key: Hashable, value: V, most: int) -> None:
    """Store ``value`` under ``key``, dropping the oldest entry first when ``cache`` holds ``most``."""
    if key not in cache and len(cache) >= most:
        cache.pop(next(iter(cache)))
    cache[key] = value


class ArgsKey(tuple):  # type: ignore[type-arg]
    """A cache key made of connect arguments (a password among them): compares and hashes as the tuple
    it is, but its ``repr`` shows none of them, so a printed or logged cache never shows a secret."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} connect arguments>"

    __str__ = __repr__
