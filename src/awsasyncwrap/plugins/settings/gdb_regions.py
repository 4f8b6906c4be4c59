"""The property both Global Database plugins (``gdb_failover``, ``gdb_rw``) read: the regions one may use."""

from __future__ import annotations

from ...properties import WrapperProperty, register_property

__all__ = ["ACCESSIBLE_REGIONS"]


def _parse_regions(value: object) -> frozenset[str]:
    items = value if isinstance(value, (list, tuple, set, frozenset)) else str(value).split(",")
    return frozenset(r for r in (str(item).strip().lower() for item in items) if r)


ACCESSIBLE_REGIONS: WrapperProperty[frozenset[str]] = register_property(
    WrapperProperty(
        "gdb_accessible_regions",
        "Comma-separated AWS regions this application can reach: gdb_failover and gdb_rw never pick a "
        "host in another region (unset or empty: every region).",
        None,
        _parse_regions,
    )
)
