"""SAML assertion from Microsoft ADFS: IdP-initiated sign-on with the forms login page."""

from __future__ import annotations

import logging
from urllib.parse import quote, urljoin, urlsplit

from ._errors import SamlAuthError
from ._html import Form, find_input, parse_forms
from ._saml import SamlSettings, check_status, idp_http

__all__ = ["adfs_saml_assertion"]

logger = logging.getLogger(__name__)

_SIGN_ON_PATH = "/adfs/ls/IdpInitiatedSignOn.aspx"


async def adfs_saml_assertion(settings: SamlSettings, rp_identifier: str) -> str:
    """Log in at ADFS with the user's name and password; return the base64 SAML response."""
    url = f"{settings.base_url}{_SIGN_ON_PATH}?loginToRp={quote(rp_identifier, safe='')}"
    async with idp_http(settings) as http:
        async with http.get(url) as response:
            check_status(response.status, settings, "the sign-on page request")
            page = await response.text()
            page_url = str(response.url)
        form = _login_form(parse_forms(page), settings)
        action = urljoin(page_url, form.action or page_url)
        _check_same_host(action, settings)
        async with http.post(action, data=_fill(form, settings)) as response:
            check_status(response.status, settings, "the login form")
            answer = await response.text()
    assertion = find_input(answer, "SAMLResponse")
    if not assertion:
        raise SamlAuthError(
            f"ADFS {settings.base_url} returned no SAML assertion for {settings.username!r}: wrong "
            "idp_username / idp_password, or the login needs a step this plugin does not support."
        )
    logger.debug("ADFS %s issued a SAML assertion for %s", settings.host, settings.username)
    return assertion


def _login_form(forms: list[Form], settings: SamlSettings) -> Form:
    for form in forms:
        if any(kind == "password" or "pass" in name.lower() for name, kind, _ in form.inputs):
            return form
    raise SamlAuthError(f"ADFS {settings.base_url} sign-on page has no login form (is it ADFS?).")


def _fill(form: Form, settings: SamlSettings) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, kind, value in form.inputs:
        lowered = name.lower()
        if kind == "password" or "password" in lowered:
            fields[name] = settings.password
        elif "username" in lowered or "email" in lowered:
            fields[name] = settings.username
        elif lowered == "kmsi":
            fields[name] = "true"
        elif kind not in ("submit", "button", "image", "reset"):
            fields[name] = value
    return fields


def _check_same_host(action: str, settings: SamlSettings) -> None:
    parts = urlsplit(action)
    if parts.scheme != "https" or parts.hostname != settings.host:
        raise SamlAuthError(
            f"ADFS {settings.base_url} login form posts to another site ({parts.scheme}://{parts.hostname}); "
            "the password is not sent there."
        )
