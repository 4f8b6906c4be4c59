"""Federated login: settings, the HTTP client for the identity provider, and the STS exchange.

The identity provider (ADFS, Okta) hands out a SAML assertion for the user;
STS ``AssumeRoleWithSAML`` turns it into temporary credentials of an IAM
role, which then sign IAM database auth tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio

from ..errors import ConfigurationError
from ._errors import SamlAuthError
from ._props import AwsProps
from ._redact import sensitive
from ._session import aws_client, client_error_code, describe_aws_error

if TYPE_CHECKING:
    import aioboto3
    import aiohttp

__all__ = ["SamlSettings", "StsCredentials", "assume_role_with_saml", "idp_http"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamlSettings:
    """Where and as whom to log in, and which role to assume. ``repr`` hides the password."""

    base_url: str  # https://host:port
    username: str
    password: str = field(repr=False)
    role_arn: str
    idp_arn: str
    connect_timeout: float
    verify_tls: bool
    sts_endpoint: str | None
    request_timeout: float

    @property
    def host(self) -> str:
        """The identity provider's host name."""
        return urlsplit(self.base_url).hostname or ""

    @classmethod
    def from_props(cls, props: Mapping[str, Any], plugin: str) -> SamlSettings:
        """Settings from a connection's properties; missing required ones raise ConfigurationError."""

        def required(prop: Any) -> str:
            value = prop.get(props)
            if not value:
                raise ConfigurationError(f"The {plugin} plugin needs property {prop.name!r}.")
            return str(value)

        endpoint = required(AwsProps.IDP_ENDPOINT)
        port = AwsProps.IDP_PORT.value(props)
        if "://" in endpoint:
            parts = urlsplit(endpoint)
            if parts.scheme != "https" or not parts.hostname:
                raise ConfigurationError(
                    f"Property {AwsProps.IDP_ENDPOINT.name!r} must be a host name or an https:// URL "
                    f"(got {endpoint!r}): credentials are never sent over plain HTTP."
                )
            host, port = parts.hostname, parts.port or port
        else:
            host = endpoint.strip("/")
        netloc = f"[{host}]" if ":" in host else host
        return cls(
            base_url=f"https://{netloc}:{port}",
            username=required(AwsProps.IDP_USERNAME),
            password=required(AwsProps.IDP_PASSWORD),
            role_arn=required(AwsProps.IAM_ROLE_ARN),
            idp_arn=required(AwsProps.IAM_IDP_ARN),
            connect_timeout=AwsProps.HTTP_REQUEST_CONNECT_TIMEOUT.value(props),
            verify_tls=AwsProps.SSL_SECURE.value(props),
            sts_endpoint=AwsProps.STS_ENDPOINT.get(props) or None,
            request_timeout=AwsProps.AWS_REQUEST_TIMEOUT_SEC.value(props),
        )


@dataclass(frozen=True)
class StsCredentials:
    """Temporary credentials of the assumed role; ``repr`` shows only the access key id."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: dt.datetime

    def client_kwargs(self) -> dict[str, str]:
        """Keyword arguments of ``session.client()`` that sign with these credentials."""
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }

    def seconds_left(self) -> float:
        """Seconds until the credentials expire."""
        return (self.expiration - dt.datetime.now(dt.timezone.utc)).total_seconds()


@contextlib.asynccontextmanager
async def idp_http(settings: SamlSettings) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client for one login at the identity provider (own cookie jar, bounded waits)."""
    try:
        import aiohttp
    except ImportError:
        raise ConfigurationError(
            "The federated plugins need aiohttp: pip install 'awsasyncwrap[aws]'."
        ) from None
    timeout = aiohttp.ClientTimeout(
        total=settings.request_timeout,
        sock_connect=settings.connect_timeout,
        connect=settings.connect_timeout,
    )
    # unsafe=True: keep cookies of an IdP addressed by IP (the jar lives for this one login only)
    jar = aiohttp.CookieJar(unsafe=True)
    connector = aiohttp.TCPConnector(ssl=settings.verify_tls)
    async with aiohttp.ClientSession(timeout=timeout, cookie_jar=jar, connector=connector) as http:
        try:
            yield http
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _http_error(exc, settings) from None


def _http_error(exc: BaseException, settings: SamlSettings) -> SamlAuthError:
    import aiohttp

    where = settings.base_url
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return SamlAuthError(
            f"The TLS certificate of the identity provider {where} is not trusted "
            f"(set {AwsProps.SSL_SECURE.name}=false only for a test IdP)."
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return SamlAuthError(f"Could not connect to the identity provider {where}: {exc.os_error}.")
    if isinstance(exc, asyncio.TimeoutError):
        return SamlAuthError(
            f"The identity provider {where} did not answer in time "
            f"({AwsProps.HTTP_REQUEST_CONNECT_TIMEOUT.name}={settings.connect_timeout:g} s to connect, "
            f"{AwsProps.AWS_REQUEST_TIMEOUT_SEC.name}={settings.request_timeout:g} s in all)."
        )
    return SamlAuthError(f"Request to the identity provider {where} failed: {type(exc).__name__}.")


def check_status(status: int, settings: SamlSettings, step: str) -> None:
    """Raise a SamlAuthError for an HTTP error status (the body is never shown: it may echo input)."""
    if status >= 400:
        raise SamlAuthError(f"The identity provider {settings.base_url} answered HTTP {status} to {step}.")


async def assume_role_with_saml(
    session: aioboto3.Session, settings: SamlSettings, assertion: str, region: str
) -> StsCredentials:
    """Exchange a SAML assertion for temporary credentials of ``settings.role_arn``."""
    where = settings.sts_endpoint or region
    try:
        with sensitive(), anyio.fail_after(settings.request_timeout):
            async with aws_client(
                session, "sts", region, endpoint_url=settings.sts_endpoint, unsigned=True
            ) as sts:
                answer = await sts.assume_role_with_saml(
                    RoleArn=settings.role_arn, PrincipalArn=settings.idp_arn, SAMLAssertion=assertion
                )
    except TimeoutError:
        raise SamlAuthError(f"STS at {where} did not answer within {settings.request_timeout:g} s.") from None
    except Exception as exc:
        code = client_error_code(exc)
        if code is not None:
            raise SamlAuthError(
                f"STS refused AssumeRoleWithSAML of role {settings.role_arn} "
                f"with IdP {settings.idp_arn}: {code}."
            ) from None
        described = describe_aws_error(exc, "STS", where)
        if described is None:
            raise
        raise SamlAuthError(str(described)) from None
    creds = answer["Credentials"]
    logger.debug("assumed role %s through %s", settings.role_arn, settings.host)
    return StsCredentials(
        creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"], _aware(creds["Expiration"])
    )


def _aware(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
