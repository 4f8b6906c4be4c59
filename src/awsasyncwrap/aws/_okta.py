"""SAML assertion from Okta: primary authentication, then the AWS app's SAML endpoint."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from ._errors import SamlAuthError
from ._html import find_input
from ._saml import SamlSettings, check_status, idp_http

__all__ = ["okta_saml_assertion"]

logger = logging.getLogger(__name__)


async def okta_saml_assertion(settings: SamlSettings, app_id: str) -> str:
    """Log in at Okta with the user's name and password; return the base64 SAML response of ``app_id``."""
    async with idp_http(settings) as http:
        async with http.post(
            f"{settings.base_url}/api/v1/authn",
            json={"username": settings.username, "password": settings.password},
            headers={"Accept": "application/json"},
        ) as response:
            if response.status in (401, 403):
                raise SamlAuthError(
                    f"Okta {settings.base_url} rejected the login of {settings.username!r} "
                    f"(HTTP {response.status}): check idp_username / idp_password."
                )
            check_status(response.status, settings, "the authentication request")
            answer: Any = await response.json(content_type=None)
        session_token = answer.get("sessionToken") if isinstance(answer, dict) else None
        if not session_token:
            status = answer.get("status") if isinstance(answer, dict) else None
            raise SamlAuthError(
                f"Okta {settings.base_url} gave no session token for {settings.username!r} "
                f"(status {status!r}; multi-factor logins are not supported)."
            )
        url = f"{settings.base_url}/app/amazon_aws/{quote(app_id, safe='')}/sso/saml"
        async with http.get(url, params={"onetimetoken": session_token}) as response:
            check_status(response.status, settings, f"the SAML request of app {app_id!r}")
            page = await response.text()
    assertion = find_input(page, "SAMLResponse")
    if not assertion:
        raise SamlAuthError(
            f"Okta {settings.base_url} returned no SAML assertion for app {app_id!r} (check app_id and that "
            f"{settings.username!r} is assigned to the app)."
        )
    logger.debug("Okta %s issued a SAML assertion for %s", settings.host, settings.username)
    return assertion
