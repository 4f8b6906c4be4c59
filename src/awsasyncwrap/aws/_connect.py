"""Connect-time helpers of the auth plugins: lend credentials to one driver call, spot login errors, TLS."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ._props import AwsProps

if TYPE_CHECKING:
    from ..drivers import DriverDialect
    from ..plugin_service import PluginService

__all__ = ["check_tls", "is_login_error", "lent_credentials"]

_MISSING: Any = object()
#: psycopg reports a failed connection without SQLSTATE: recognize the server's FATAL message.
#: how to give a connection TLS, per engine (for the error that refuses to send a token without it)
_TLS_FIX = {
    "pg": "Use sslmode=require or verify-full",
    "mysql": "Pass ssl=ssl.create_default_context(cafile=<RDS CA bundle>)",
}


class _Lent(str):
    """A credential placed in the connection properties for one driver connect call."""

    original: Any  # the user's own value (or _MISSING)
    active: list[_Lent]  # markers of this key still inside their block, oldest first (shared)

    def __repr__(self) -> str:
        return "'***'"


@contextlib.contextmanager
def lent_credentials(props: MutableMapping[str, Any], values: Mapping[str, str]) -> Iterator[None]:
    """Put ``values`` (e.g. user and token) into ``props`` for the duration of the block only.

    The connect pipeline hands the same properties object to the driver call,
    so the credential has to be there while it runs; afterwards the previous
    value is back: the one of an enclosing block still running, else the
    user's own. Blocks of concurrent connects may end in any order.
    """
    lent: dict[str, _Lent] = {}
    for key, value in values.items():
        current = props.get(key, _MISSING)
        marker = _Lent(value)
        if isinstance(current, _Lent):
            marker.original, marker.active = current.original, current.active
        else:
            marker.original, marker.active = current, []
        marker.active.append(marker)
        props[key] = marker
        lent[key] = marker
    try:
        yield
    finally:
        for key, marker in lent.items():
            marker.active.remove(marker)
            if props.get(key) is not marker:
                continue  # a block that started later still holds the key
            if marker.active:
                props[key] = marker.active[-1]
            elif marker.original is _MISSING:
                props.pop(key, None)
            else:
                props[key] = marker.original


def is_login_error(service: PluginService, exc: BaseException) -> bool:
    """Whether ``exc`` says the server refused the credentials."""
    if not isinstance(exc, Exception):
        return False
    if service.is_login_error(exc):
        return True
    return service.driver_dialect.says_bad_credentials(exc)


def check_tls(driver: DriverDialect, props: Mapping[str, Any], plugin: str) -> None:
    """Refuse to send an IAM token over a connection that may not use TLS (unless allowed)."""
    if AwsProps.IAM_ALLOW_WITHOUT_TLS.get(props):
        return
    allow = AwsProps.IAM_ALLOW_WITHOUT_TLS.name
    why = driver.without_tls(props)
    if why is None:
        return
    fix = _TLS_FIX[driver.engine]  # register_driver_dialect admits no other engine
    raise ConfigurationError(
        f"The {plugin} plugin sends an IAM token as the password, and RDS accepts it only over TLS, "
        f"but {why}. {fix} (or set {allow}=true for a local test database)."
    )
