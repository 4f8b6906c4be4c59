"""``okta``: IAM database authentication for users of Okta (SAML).

Like ``federated_auth``, with Okta's primary authentication
(``/api/v1/authn``) and the AWS app's SAML endpoint (``app_id``) in place of
the ADFS login form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ..aws._props import AwsProps
from ..errors import ConfigurationError
from ..plugin import Plugin, PluginFactory
from .federated_auth import SamlTokenSource, _token
from .iam import TokenAuthPlugin

if TYPE_CHECKING:
    from ..aws._saml import SamlSettings
    from ..plugin_service import PluginService
    from ..properties import Properties

__all__ = ["OktaAuthPlugin", "OktaAuthPluginFactory", "OktaTokenSource", "okta_auth_token"]


class OktaTokenSource(SamlTokenSource):
    """Tokens for Okta users."""

    plugin_code: ClassVar[str] = "okta"
    idp_kind: ClassVar[str] = "okta"

    def scope(self, props: Mapping[str, Any]) -> str:
        return f"{super().scope(props)}:{self.app_id(props)}"

    def validate(self, props: Mapping[str, Any]) -> None:
        super().validate(props)
        self.app_id(props)

    def app_id(self, props: Mapping[str, Any]) -> str:
        """The Okta application id of the AWS app."""
        app_id = AwsProps.APP_ID.get(props)
        if not app_id:
            raise ConfigurationError(f"The okta plugin needs property {AwsProps.APP_ID.name!r}.")
        return app_id

    async def assertion(self, settings: SamlSettings, props: Mapping[str, Any]) -> str:
        from ..aws._okta import okta_saml_assertion

        return await okta_saml_assertion(settings, self.app_id(props))


class OktaAuthPlugin(TokenAuthPlugin):
    """The ``okta`` plugin."""

    def __init__(self, plugin_service: PluginService, props: Properties) -> None:
        super().__init__(plugin_service, props, OktaTokenSource())


class OktaAuthPluginFactory(PluginFactory):
    """Creates :class:`OktaAuthPlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return OktaAuthPlugin(plugin_service, props)


async def okta_auth_token(props: Mapping[str, Any], host: str | None = None, port: int | None = None) -> str:
    """The token the ``okta`` plugin would send for these properties (from the shared cache)."""
    return await _token(OktaTokenSource(), props, host, port)
