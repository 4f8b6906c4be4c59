"""Properties of the ``gdb_failover`` plugin (names and meaning of the AWS wrappers)."""

from __future__ import annotations

from ...properties import WrapperProperty, register_property
from ._modes import MODES, parse_mode

__all__ = ["ACTIVE_HOME_FAILOVER_MODE", "FAILOVER_HOME_REGION", "INACTIVE_HOME_FAILOVER_MODE"]

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
