"""A fake identity provider on loopback (HTTPS): just enough of ADFS and Okta to hand out SAML assertions.

ADFS: ``GET /adfs/ls/IdpInitiatedSignOn.aspx?loginToRp=...`` serves the forms login page (and sets a
session cookie); posting the form with the right user name and password returns the page with the
``SAMLResponse`` form that would go to AWS. Okta: ``POST /api/v1/authn`` (JSON) returns a one-time
session token; ``GET /app/amazon_aws/<app_id>/sso/saml?onetimetoken=...`` returns the SAML form.
The assertions carry the AWS role attributes moto's STS reads.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import ipaddress
import secrets
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

__all__ = ["FakeIdp", "self_signed_tls"]

_SIGN_ON = "/adfs/ls/IdpInitiatedSignOn.aspx"
_COOKIE = "MSISSamlRequest"


def self_signed_tls(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1 / localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-idp.test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "idp.crt", directory / "idp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


def saml_response(user: str, role_arn: str, idp_arn: str, duration: int = 3600) -> str:
    """A base64 SAML response naming the AWS role (unsigned: moto's STS does not check signatures)."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    nonce = secrets.token_hex(12)
    attrs = {
        "https://aws.amazon.com/SAML/Attributes/Role": f"{role_arn},{idp_arn}",
        "https://aws.amazon.com/SAML/Attributes/RoleSessionName": user,
        "https://aws.amazon.com/SAML/Attributes/SessionDuration": str(duration),
    }
    attributes = "".join(
        f'<saml:Attribute Name="{name}"><saml:AttributeValue>{html.escape(value)}</saml:AttributeValue>'
        "</saml:Attribute>"
        for name, value in attrs.items()
    )
    xml = (
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        f'ID="_{nonce}" Version="2.0" IssueInstant="{now}">'
        '<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">https://fake-idp.test/</saml:Issuer>'
        '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        f'ID="_a{nonce}" Version="2.0" IssueInstant="{now}">'
        "<saml:Issuer>https://fake-idp.test/</saml:Issuer>"
        f"<saml:Subject><saml:NameID>{html.escape(user)}</saml:NameID></saml:Subject>"
        f"<saml:AttributeStatement>{attributes}</saml:AttributeStatement>"
        "</saml:Assertion></samlp:Response>"
    )
    return base64.b64encode(xml.encode()).decode()


@dataclass
class FakeIdp:
    """The server; ``users`` maps user name to password. Counters tell what the client did."""

    role_arn: str
    idp_arn: str
    users: dict[str, str] = field(default_factory=dict)
    rp_identifier: str = "urn:amazon:webservices"
    app_id: str = "0oa-fake-app"
    host: str = "127.0.0.1"
    port: int = 0
    logins: int = 0
    failed_logins: int = 0
    assertions: list[str] = field(default_factory=list)
    _session_tokens: set[str] = field(default_factory=set)
    _runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> str:
        """``https://127.0.0.1:<port>``."""
        return f"https://{self.host}:{self.port}"

    async def start(self, tls: ssl.SSLContext) -> None:
        app = web.Application()
        app.router.add_get(_SIGN_ON, self._adfs_page)
        app.router.add_post(_SIGN_ON, self._adfs_login)
        app.router.add_post("/api/v1/authn", self._okta_authn)
        app.router.add_get("/app/amazon_aws/{app_id}/sso/saml", self._okta_saml)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0, ssl_context=tls)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _issue(self, user: str) -> str:
        assertion = saml_response(user, self.role_arn, self.idp_arn)
        self.assertions.append(assertion)
        self.logins += 1
        return assertion

    @staticmethod
    def _saml_form(assertion: str, *, okta_style: bool = False) -> str:
        value = html.escape(assertion)
        if okta_style:  # Okta encodes every '+' and '=' of the base64 text as character references
            value = value.replace("+", "&#x2b;").replace("=", "&#x3d;")
        return (
            "<html><body><form method='post' name='hiddenform' action='https://signin.aws.amazon.com/saml'>"
            f'<input type="hidden" name="SAMLResponse" value="{value}" />'
            '<noscript><input type="submit" value="Continue"/></noscript></form></body></html>'
        )

    # --- ADFS -------------------------------------------------------------------------------

    def _adfs_form(self, error: str = "") -> str:
        action = f"{_SIGN_ON}?loginToRp={self.rp_identifier}&amp;client-request-id=4f1c"
        return (
            "<html><head><title>Sign In</title></head><body>"
            f"<div id='error'>{error}</div>"
            f"<form method='post' id='loginForm' autocomplete='off' action='{action}'>"
            '<input id="userNameInput" name="UserName" type="email" value="" />'
            '<input id="passwordInput" name="Password" type="password" />'
            '<input id="kmsiInput" type="checkbox" name="Kmsi" />'
            '<input id="optionForms" type="hidden" name="AuthMethod" value="FormsAuthentication"/>'
            '<span id="submitButton" class="submit">Sign in</span>'
            "</form></body></html>"
        )

    async def _adfs_page(self, request: web.Request) -> web.Response:
        if request.query.get("loginToRp") != self.rp_identifier:
            return web.Response(status=400, text="unknown relying party")
        response = web.Response(text=self._adfs_form(), content_type="text/html")
        response.set_cookie(_COOKIE, secrets.token_hex(8), secure=True, httponly=True)
        return response

    async def _adfs_login(self, request: web.Request) -> web.Response:
        if _COOKIE not in request.cookies or request.query.get("loginToRp") != self.rp_identifier:
            return web.Response(status=400, text="no sign-in session")
        form = await request.post()
        user, password = str(form.get("UserName", "")), str(form.get("Password", ""))
        if (
            form.get("AuthMethod") != "FormsAuthentication"
            or self.users.get(user) != password
            or not password
        ):
            self.failed_logins += 1
            return web.Response(
                text=self._adfs_form("Incorrect user ID or password."), content_type="text/html"
            )
        return web.Response(text=self._saml_form(self._issue(user)), content_type="text/html")

    # --- Okta -------------------------------------------------------------------------------

    async def _okta_authn(self, request: web.Request) -> web.Response:
        body = await request.json()
        user, password = str(body.get("username", "")), str(body.get("password", ""))
        if self.users.get(user) != password or not password:
            self.failed_logins += 1
            return web.json_response(
                {"errorCode": "E0000004", "errorSummary": "Authentication failed"}, status=401
            )
        token = secrets.token_urlsafe(24)
        self._session_tokens.add(token)
        return web.json_response({"status": "SUCCESS", "sessionToken": token, "_embedded": {"user": {}}})

    async def _okta_saml(self, request: web.Request) -> web.Response:
        token = request.query.get("onetimetoken", "")
        if request.match_info["app_id"] != self.app_id:
            return web.Response(status=404, text="no such app")
        if token not in self._session_tokens:
            return web.Response(status=403, text="bad session token")
        self._session_tokens.discard(token)
        return web.Response(
            text=self._saml_form(self._issue("okta-user"), okta_style=True), content_type="text/html"
        )
