"""Properties of the ``gdb_failover`` plugin (names and meaning of the AWS wrappers)."""

from __future__ import annotations

from ...properties import WrapperProperty, register_property

__all__ = [
    "ACTIVE_HOME_FAILOVER_MODE",
    "FAILOVER_HOME_REGION",
    "INACTIVE_HOME_FAILOVER_MODE",
    "MODES",
    "parse_mode",
]

#: The failover modes by name (aws-advanced-wrapper names; ``_modes.GdbMode`` has one member each).
MODES: tuple[str, ...] = (
    "strict-writer",
    "strict-home-reader",
    "strict-out-of-home-reader",
    "strict-any-reader",
    "home-reader-or-writer",
    "out-of-home-reader-or-writer",
    "any-reader-or-writer",
)


def parse_mode(value: object) -> str:
    """A mode name as the properties take it: case and ``_``/``-`` spelling do not matter."""
    return str(value).strip().lower().replace("_", "-")


FAILOVER_HOME_REGION: WrapperProperty[str] = register_property(
    WrapperProperty(
        "failover_home_region",
        "The home region of gdb_failover (e.g. us-east-1); default: the region of the connection URL, "
        "required when the URL names none (IP address, global writer endpoint, custom domain).",
        None,
        str,
    )
)
ACTIVE_HOME_FAILOVER_MODE: WrapperProperty[str] = register_property(
    WrapperProperty(
        "active_home_failover_mode",
        "gdb_failover's target while the writer runs in the home region; default: strict-writer for a "
        "cluster or global writer endpoint URL, else home-reader-or-writer.",
        None,
        parse_mode,
        MODES,
    )
)
INACTIVE_HOME_FAILOVER_MODE: WrapperProperty[str] = register_property(
    WrapperProperty(
        "inactive_home_failover_mode",
        "gdb_failover's target while the writer runs outside the home region; default: strict-writer for a "
        "cluster or global writer endpoint URL, else home-reader-or-writer.",
        None,
        parse_mode,
        MODES,
    )
)
