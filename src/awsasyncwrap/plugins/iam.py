"""``iam``: log in with an IAM database auth token instead of a password.

The token is generated from the AWS credentials of the session (default
chain or ``aws_profile``), cached process-wide per (user, host, port,
region) and renewed before it expires. A login refused with a cached token
is retried once with a new one. The token goes to the driver's connect call
only: it is never left in the connection properties, never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ..aws._connect import check_tls, is_login_error, lent_credentials
from ..aws._props import MAX_IAM_EXPIRATION_SEC, AwsProps
from ..errors import ConfigurationError
from ..plugin import ConnectFunc, Plugin, PluginFactory
from ..properties import WrapperProperties

if TYPE_CHECKING:
    from ..aws._cache import Fetched
    from ..aws._tokens import TokenKey
    from ..drivers import DriverDialect
    from ..hostinfo import HostInfo
    from ..plugin_service import PluginService
    from ..properties import Properties

__all__ = ["IamAuthPlugin", "IamAuthPluginFactory", "IamTokenSource", "TokenAuthPlugin", "iam_auth_token"]

logger = logging.getLogger(__name__)


class IamTokenSource:
    """Where the ``iam`` plugin's tokens come from: the AWS session's own credentials."""

    plugin_code: ClassVar[str] = "iam"

    def db_user(self, props: Mapping[str, Any]) -> str:
        """The database user the token is for."""
        user = WrapperProperties.USER.get(props)
        if not user:
            raise ConfigurationError(
                f"The {self.plugin_code} plugin needs the database user (property 'user')."
            )
        return str(user)

    def scope(self, props: Mapping[str, Any]) -> str:
        """Tells credential sources apart in the shared token cache."""
        profile = AwsProps.AWS_PROFILE.get(props)
        return f"profile:{profile}" if profile else ""

    def expiration(self, props: Mapping[str, Any]) -> int:
        """Seconds a token is reused (``iam_expiration``)."""
        seconds = AwsProps.IAM_EXPIRATION.value(props)
        if seconds > MAX_IAM_EXPIRATION_SEC:
            raise ConfigurationError(
                f"Property {AwsProps.IAM_EXPIRATION.name!r} is {seconds}, but RDS accepts a token for "
                f"{MAX_IAM_EXPIRATION_SEC} s at most: use a value <= {MAX_IAM_EXPIRATION_SEC}."
            )
        return seconds

    def validate(self, props: Mapping[str, Any]) -> None:
        """Raise ConfigurationError for missing or bad settings (before any I/O)."""
        self.expiration(props)
        self.db_user(props)

    def key(self, host: str, port: int, props: Mapping[str, Any]) -> TokenKey:
        """The cache key: user, signed host and port, region, credential scope."""
        from ..aws._tokens import TokenKey

        signed_host = AwsProps.IAM_HOST.get(props) or host
        signed_port = AwsProps.IAM_DEFAULT_PORT.get(props) or port
        return TokenKey(
            self.db_user(props), signed_host, signed_port, self.region(signed_host, props), self.scope(props)
        )

    def region(self, host: str, props: Mapping[str, Any]) -> str:
        """``iam_region``, else the region in the RDS host name, else the session's default region."""
        region = AwsProps.IAM_REGION.get(props)
        if region:
            return region
        from ..rds_utils import RdsUtils

        region = RdsUtils().get_rds_region(host)
        if region:
            return region
        from ..aws._session import default_region, session_for

        region = default_region(session_for(props))
        if region:
            return region
        raise ConfigurationError(
            f"No AWS region for IAM authentication to {host!r}: set {AwsProps.IAM_REGION.name!r} "
            "(the host is not an RDS host name and no default region is configured)."
        )

    async def generate(self, key: TokenKey, props: Mapping[str, Any]) -> tuple[str, float]:
        """A new token for ``key`` and how long to reuse it."""
        from ..aws._session import session_for
        from ..aws._tokens import generate_auth_token

        return await generate_auth_token(session_for(props), key), self.expiration(props)

    async def token(
        self, host: str, port: int, props: Mapping[str, Any], stale: str | None = None
    ) -> tuple[TokenKey, Fetched[str]]:
        """The token for connecting to ``host:port``: cached, or new."""
        from ..aws._tokens import cached_token

        key = self.key(host, port, props)

        async def generate() -> tuple[str, float]:
            return await self.generate(key, props)

        return key, await cached_token(key, generate, self.expiration(props), stale)


class TokenAuthPlugin(Plugin):
    """Connects with a token from a :class:`IamTokenSource` in place of the password."""

    subscribed_methods = {"connect", "force_connect"}

    def __init__(self, plugin_service: PluginService, props: Properties, source: IamTokenSource) -> None:
        self._service = plugin_service
        self._source = source
        source.validate(props)  # bad settings fail before any I/O

    async def connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial_connection: bool,
        connect_func: ConnectFunc,
    ) -> Any:
        source = self._source
        check_tls(driver_dialect, props, source.plugin_code)
        port = host_info.port or self._service.database_dialect.default_port
        key, fetched = await source.token(host_info.host, port, props)
        try:
            return await self._connect_with(key, fetched.value, props, connect_func)
        except Exception as exc:
            if fetched.fresh or not is_login_error(self._service, exc):
                raise
            logger.debug("login as %s with a cached IAM token was refused; retrying with a new token", key)
        _, fetched = await source.token(host_info.host, port, props, stale=fetched.value)
        return await self._connect_with(key, fetched.value, props, connect_func)

    force_connect = connect

    async def _connect_with(
        self, key: TokenKey, token: str, props: Properties, connect_func: ConnectFunc
    ) -> Any:
        with lent_credentials(props, {"user": key.user, "password": token}):
            return await connect_func()


class IamAuthPlugin(TokenAuthPlugin):
    """The ``iam`` plugin."""

    def __init__(self, plugin_service: PluginService, props: Properties) -> None:
        super().__init__(plugin_service, props, IamTokenSource())


class IamAuthPluginFactory(PluginFactory):
    """Creates :class:`IamAuthPlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return IamAuthPlugin(plugin_service, props)


async def iam_auth_token(props: Mapping[str, Any], host: str | None = None, port: int | None = None) -> str:
    """The token the ``iam`` plugin would send for these properties (from the shared cache).

    ``host`` / ``port`` default to the ``host`` / ``port`` properties.
    """
    target_host = host or WrapperProperties.HOST.get(props)
    target_port = port or WrapperProperties.PORT.get(props)
    if not target_host or not target_port:
        raise ConfigurationError("iam_auth_token() needs the host and port (arguments or properties).")
    _, fetched = await IamTokenSource().token(target_host, target_port, props)
    return fetched.value
