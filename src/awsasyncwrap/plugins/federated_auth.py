"""``federated_auth``: IAM database authentication for users of Microsoft ADFS (SAML).

The user logs in at ADFS (``idp_endpoint``, ``idp_username``, ``idp_password``);
the SAML assertion ADFS returns is exchanged with STS ``AssumeRoleWithSAML``
for temporary credentials of ``iam_role_arn``, which sign an IAM auth token
for ``db_user``. Tokens are cached and retried like the ``iam`` plugin's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ..aws._props import AwsProps
from ..errors import ConfigurationError
from ..plugin import Plugin, PluginFactory
from ..properties import WrapperProperties
from .iam import IamTokenSource, TokenAuthPlugin

if TYPE_CHECKING:
    from ..aws._saml import SamlSettings
    from ..aws._tokens import TokenKey
    from ..plugin_service import PluginService
    from ..properties import Properties

__all__ = [
    "AdfsTokenSource",
    "FederatedAuthPlugin",
    "FederatedAuthPluginFactory",
    "SamlTokenSource",
    "federated_auth_token",
]

#: Credentials are not used closer than this to their expiry.
_CREDENTIALS_MARGIN_SEC = 60.0


class SamlTokenSource(IamTokenSource):
    """Tokens signed with role credentials obtained through a SAML identity provider."""

    plugin_code: ClassVar[str] = "federated_auth"
    idp_kind: ClassVar[str] = "saml"

    def db_user(self, props: Mapping[str, Any]) -> str:
        user = AwsProps.DB_USER.get(props)
        if not user:
            raise ConfigurationError(
                f"The {self.plugin_code} plugin needs property {AwsProps.DB_USER.name!r}."
            )
        return user

    def validate(self, props: Mapping[str, Any]) -> None:
        super().validate(props)
        self.settings(props)

    def settings(self, props: Mapping[str, Any]) -> SamlSettings:
        """The identity provider settings of these properties."""
        from ..aws._saml import SamlSettings

        return SamlSettings.from_props(props, self.plugin_code)

    def scope(self, props: Mapping[str, Any]) -> str:
        settings = self.settings(props)
        return f"{self.idp_kind}:{settings.base_url}:{settings.username}:{settings.role_arn}"

    async def assertion(self, settings: SamlSettings, props: Mapping[str, Any]) -> str:
        """The base64 SAML response of the identity provider."""
        raise NotImplementedError

    async def generate(self, key: TokenKey, props: Mapping[str, Any]) -> tuple[str, float]:
        from ..aws._saml import assume_role_with_saml
        from ..aws._session import session_for
        from ..aws._tokens import generate_auth_token

        settings = self.settings(props)
        assertion = await self.assertion(settings, props)
        session = session_for(props)
        creds = await assume_role_with_saml(session, settings, assertion, key.region)
        token = await generate_auth_token(session, key, creds.client_kwargs())
        ttl = min(float(self.expiration(props)), creds.seconds_left() - _CREDENTIALS_MARGIN_SEC)
        return token, max(ttl, 1.0)


class AdfsTokenSource(SamlTokenSource):
    """Tokens for ADFS users."""

    plugin_code: ClassVar[str] = "federated_auth"
    idp_kind: ClassVar[str] = "adfs"

    async def assertion(self, settings: SamlSettings, props: Mapping[str, Any]) -> str:
        from ..aws._adfs import adfs_saml_assertion

        return await adfs_saml_assertion(settings, AwsProps.RP_IDENTIFIER.value(props))


class FederatedAuthPlugin(TokenAuthPlugin):
    """The ``federated_auth`` plugin (ADFS)."""

    def __init__(self, plugin_service: PluginService, props: Properties) -> None:
        super().__init__(plugin_service, props, AdfsTokenSource())


class FederatedAuthPluginFactory(PluginFactory):
    """Creates :class:`FederatedAuthPlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return FederatedAuthPlugin(plugin_service, props)


async def federated_auth_token(
    props: Mapping[str, Any], host: str | None = None, port: int | None = None
) -> str:
    """The token the ``federated_auth`` plugin would send for these properties (from the shared cache)."""
    return await _token(AdfsTokenSource(), props, host, port)


async def _token(source: IamTokenSource, props: Mapping[str, Any], host: str | None, port: int | None) -> str:
    target_host = host or WrapperProperties.HOST.get(props)
    target_port = port or WrapperProperties.PORT.get(props)
    if not target_host or not target_port:
        raise ConfigurationError(
            f"A {source.plugin_code} token needs the host and port (arguments or properties)."
        )
    _, fetched = await source.token(target_host, target_port, props)
    return fetched.value
