"""``aws_secrets_manager``: take the database user and password from an AWS Secrets Manager secret.

The secret (``secrets_manager_secret_id``: name or ARN) is a JSON object
holding the user name and password (keys configurable). It is read once and
cached process-wide for ``secrets_manager_expiration`` seconds; concurrent
connects share one read. A login refused with cached credentials (the secret
was rotated) reads the secret again and retries once. The credentials go to
the driver's connect call only: they are never left in the connection
properties, never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..aws._connect import is_login_error, lent_credentials
from ..aws._props import AwsProps
from ..plugin import ConnectFunc, Plugin, PluginFactory

if TYPE_CHECKING:
    from ..aws._cache import Fetched
    from ..aws._secrets import DbCredentials, SecretKey
    from ..drivers import DriverDialect
    from ..hostinfo import HostInfo
    from ..plugin_service import PluginService
    from ..properties import Properties

__all__ = ["AwsSecretsManagerPlugin", "AwsSecretsManagerPluginFactory", "secret_credentials"]

logger = logging.getLogger(__name__)


async def _credentials(
    props: Mapping[str, Any], stale: DbCredentials | None = None
) -> tuple[SecretKey, Fetched[DbCredentials]]:
    from ..aws._secrets import cached_credentials, secret_key_for
    from ..aws._session import session_for

    session = session_for(props)
    key = secret_key_for(props, session)
    ttl = float(AwsProps.SECRET_EXPIRATION.value(props))
    timeout = AwsProps.AWS_REQUEST_TIMEOUT_SEC.value(props)
    return key, await cached_credentials(session, key, ttl, timeout, stale)


async def secret_credentials(props: Mapping[str, Any]) -> DbCredentials:
    """The credentials the ``aws_secrets_manager`` plugin would use for these properties (shared cache)."""
    _, fetched = await _credentials(props)
    return fetched.value


class AwsSecretsManagerPlugin(Plugin):
    """Connects with the user name and password held in a Secrets Manager secret."""

    subscribed_methods = {"connect", "force_connect"}

    def __init__(self, plugin_service: PluginService, props: Properties) -> None:
        self._service = plugin_service
        if not AwsProps.SECRET_ID.get(props):
            from ..errors import ConfigurationError

            raise ConfigurationError(
                f"The aws_secrets_manager plugin needs property {AwsProps.SECRET_ID.name!r} "
                "(secret name or ARN)."
            )

    async def connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial_connection: bool,
        connect_func: ConnectFunc,
    ) -> Any:
        key, fetched = await _credentials(props)
        try:
            return await _connect_with(fetched.value, props, connect_func)
        except Exception as exc:
            if fetched.fresh or not is_login_error(self._service, exc):
                raise
            logger.debug(
                "login with cached credentials of secret %s was refused; reading the secret again", key
            )
        _, fetched = await _credentials(props, stale=fetched.value)
        return await _connect_with(fetched.value, props, connect_func)

    force_connect = connect


async def _connect_with(creds: DbCredentials, props: Properties, connect_func: ConnectFunc) -> Any:
    with lent_credentials(props, {"user": creds.username, "password": creds.password}):
        return await connect_func()


class AwsSecretsManagerPluginFactory(PluginFactory):
    """Creates :class:`AwsSecretsManagerPlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return AwsSecretsManagerPlugin(plugin_service, props)
