"""How long one driver connect may take, and freeing a connect that was cut short."""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError
from ..properties import WrapperProperties, _parse_float

__all__ = ["DEFAULT_CONNECT_TIMEOUT_SEC", "connect_limit", "drop_unfinished"]

#: Seconds one connection attempt may take when neither ``wrapper_connect_timeout_sec`` nor the driver's
#: ``connect_timeout`` says otherwise (a blackholed host would otherwise hang as long as the OS lets it).
DEFAULT_CONNECT_TIMEOUT_SEC = 10.0
_DRIVER_TIMEOUT_SLACK = 0.5  # s past the driver's own connect_timeout, so that its own error comes first


def connect_limit(props: Mapping[str, Any]) -> float | None:
    """Seconds the wrapper lets one driver connect take (None: no bound).

    ``wrapper_connect_timeout_sec`` if set (0: no bound); else the driver's ``connect_timeout`` (plus a
    little, so that the driver reports its own timeout; its 0, "no limit", keeps the default); else
    :data:`DEFAULT_CONNECT_TIMEOUT_SEC`.
    """
    limit = WrapperProperties.CONNECT_TIMEOUT_SEC.get(props)
    if limit is not None:
        return limit if limit > 0 else None
    raw = props.get("connect_timeout")
    if raw is None:
        return DEFAULT_CONNECT_TIMEOUT_SEC
    try:
        seconds = _parse_float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"Bad value {raw!r} for property 'connect_timeout': {exc}.") from None
    if seconds < 0:
        raise ConfigurationError(f"Bad value {raw!r} for property 'connect_timeout': must be >= 0.")
    return seconds + _DRIVER_TIMEOUT_SLACK if seconds > 0 else DEFAULT_CONNECT_TIMEOUT_SEC


def drop_unfinished(exc: BaseException) -> None:
    """A connect was cancelled: free what the driver had opened so far, now.

    The half-open connection is only held by the finished driver frames of the traceback (psycopg's
    connect generator, its ``PGconn`` and socket); clearing their locals closes the socket at once
    instead of whenever the exception is collected.
    """
    tb = exc.__traceback__
    if tb is not None:
        traceback.clear_frames(tb.tb_next)
