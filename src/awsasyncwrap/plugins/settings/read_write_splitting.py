"""Properties of read/write splitting (both ``read_write_splitting`` and ``srw``) and its internal pools."""

from __future__ import annotations

from dataclasses import dataclass

from ...properties import (
    Properties,
    WrapperProperties,
    WrapperProperty,
    _parse_bool,
    _parse_int,
    register_property,
)

__all__ = ["FALLBACK_TO_WRITER", "POOLS_ENABLED", "POOL_IDLE_TIMEOUT_MS", "POOL_SIZE", "SwitchingSettings"]

FALLBACK_TO_WRITER: WrapperProperty[bool] = register_property(
    WrapperProperty(
        "rw_fallback_to_writer",
        "When no reader can be reached, set_read_only(True) stays on the writer (with a warning) "
        "instead of raising ReadWriteSplittingError.",
        True,
        _parse_bool,
    )
)
POOLS_ENABLED: WrapperProperty[bool] = register_property(
    WrapperProperty(
        "rw_internal_pools",
        "Take the reader/writer connections of read/write splitting from per-host pools shared by "
        "every connection of the event loop, and give them back when switching away.",
        False,
        _parse_bool,
    )
)
POOL_SIZE: WrapperProperty[int] = register_property(
    WrapperProperty(
        "rw_pool_size",
        "Internal pools: idle connections kept per host (more may be in use at once).",
        5,
        _parse_int,
        min_value=1,
    )
)
POOL_IDLE_TIMEOUT_MS: WrapperProperty[int] = register_property(
    WrapperProperty(
        "rw_pool_idle_timeout_ms",
        "Internal pools: an idle connection older than this is closed instead of reused; a pool no "
        "connection uses closes this long after its last user.",
        300_000,
        _parse_int,
        min_value=0,
    )
)


@dataclass(frozen=True, slots=True)
class SwitchingSettings:
    """The settings of read/write switching (``read_write_splitting``, ``gdb_rw``, ``srw``), parsed once
    per connection (durations in seconds)."""

    fallback_to_writer: bool
    pools_enabled: bool
    pool_size: int
    pool_idle_timeout: float
    connect_timeout: float | None

    @classmethod
    def from_props(cls, props: Properties) -> SwitchingSettings:
        return cls(
            fallback_to_writer=FALLBACK_TO_WRITER.value(props),
            pools_enabled=POOLS_ENABLED.value(props),
            pool_size=POOL_SIZE.value(props),
            pool_idle_timeout=POOL_IDLE_TIMEOUT_MS.seconds(props),
            connect_timeout=WrapperProperties.CONNECT_TIMEOUT_SEC.get(props),
        )
