"""Database credentials from AWS Secrets Manager, cached process-wide."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from ..errors import ConfigurationError
from ._cache import ExpiringCache, Fetched
from ._errors import SecretsManagerError
from ._props import AwsProps
from ._redact import sensitive
from ._session import aws_client, client_error_code, default_region, describe_aws_error

if TYPE_CHECKING:
    import aioboto3

__all__ = ["DbCredentials", "SecretKey", "fetch_credentials", "region_from_arn", "secret_cache"]

logger = logging.getLogger(__name__)

_ARN = re.compile(r"^arn:(?P<partition>[\w-]+):secretsmanager:(?P<region>[a-z0-9-]+):\d*:secret:.+$")


@dataclass(frozen=True, slots=True)
class DbCredentials:
    """A user name and password read from a secret. The password never shows in its repr."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"DbCredentials(username={self.username!r}, password=***)"


@dataclass(frozen=True, slots=True)
class SecretKey:
    """Which secret, where, and which JSON keys hold the credentials."""

    secret_id: str
    region: str
    endpoint: str | None
    username_key: str
    password_key: str

    def __str__(self) -> str:
        where = f" via {self.endpoint}" if self.endpoint else ""
        return f"{self.secret_id!r} in {self.region}{where}"


#: Credentials by :class:`SecretKey`, shared by every connection of the process.
secret_cache: ExpiringCache[DbCredentials] = ExpiringCache("secrets")


def region_from_arn(secret_id: str) -> str | None:
    """The region of a Secrets Manager ARN, else None (a plain secret name)."""
    match = _ARN.match(secret_id)
    return match.group("region") if match else None


def secret_key_for(props: Any, session: aioboto3.Session) -> SecretKey:
    """The :class:`SecretKey` a connection's properties name (raises ConfigurationError)."""
    secret_id = AwsProps.SECRET_ID.get(props)
    if not secret_id:
        raise ConfigurationError(
            f"The aws_secrets_manager plugin needs property {AwsProps.SECRET_ID.name!r} (secret name or ARN)."
        )
    from_arn = region_from_arn(secret_id)
    explicit = AwsProps.SECRET_REGION.get(props)
    if from_arn and explicit and from_arn != explicit:
        raise ConfigurationError(
            f"Secret ARN {secret_id!r} is in region {from_arn} but "
            f"{AwsProps.SECRET_REGION.name}={explicit!r}; drop the property or fix it."
        )
    region = from_arn or explicit or default_region(session)
    if not region:
        raise ConfigurationError(
            f"No region for secret {secret_id!r}: set {AwsProps.SECRET_REGION.name!r}, use the secret's ARN, "
            "or configure a default AWS region."
        )
    return SecretKey(
        secret_id,
        region,
        AwsProps.SECRET_ENDPOINT.get(props) or None,
        AwsProps.SECRET_USERNAME_KEY.value(props),
        AwsProps.SECRET_PASSWORD_KEY.value(props),
    )


async def fetch_credentials(session: aioboto3.Session, key: SecretKey, time_limit: float) -> DbCredentials:
    """Read and parse the secret (one GetSecretValue call)."""
    logger.debug("fetching secret %s", key)
    try:
        with sensitive(), anyio.fail_after(time_limit):
            async with aws_client(session, "secretsmanager", key.region, endpoint_url=key.endpoint) as client:
                response = await client.get_secret_value(SecretId=key.secret_id)
    except TimeoutError:
        raise SecretsManagerError(
            f"Secrets Manager did not answer within {time_limit:g} s for secret {key} "
            f"(property {AwsProps.AWS_REQUEST_TIMEOUT_SEC.name!r})."
        ) from None
    except Exception as exc:
        raise _read_error(exc, key) from None
    return _parse(response, key)


def _read_error(exc: Exception, key: SecretKey) -> Exception:
    code = client_error_code(exc)
    if code == "ResourceNotFoundException":
        return SecretsManagerError(
            f"Secret {key} was not found: check {AwsProps.SECRET_ID.name!r} and the region "
            f"({AwsProps.SECRET_REGION.name!r}, or the region in the secret's ARN)."
        )
    if code in ("AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException"):
        return SecretsManagerError(f"Not allowed to read secret {key}: {code}.")
    if code is not None:
        return SecretsManagerError(f"Could not read secret {key}: {code}.")
    described = describe_aws_error(exc, "Secrets Manager", key.endpoint or key.region)
    if described is not None:
        return SecretsManagerError(f"Could not read secret {key}: {described}")
    return exc


def _parse(response: Any, key: SecretKey) -> DbCredentials:
    text = response.get("SecretString")
    if text is None:
        raise SecretsManagerError(f"Secret {key} holds binary data, not a JSON object with credentials.")
    try:
        data = json.loads(text)
    except ValueError:
        raise SecretsManagerError(f"Secret {key} is not valid JSON (expected a JSON object).") from None
    if not isinstance(data, dict):
        raise SecretsManagerError(f"Secret {key} is JSON but not an object (found {type(data).__name__}).")
    return DbCredentials(
        _field(data, key.username_key, key, "username"), _field(data, key.password_key, key, "password")
    )


def _field(data: dict[str, Any], name: str, key: SecretKey, what: str) -> str:
    if name not in data:
        prop = AwsProps.SECRET_USERNAME_KEY if what == "username" else AwsProps.SECRET_PASSWORD_KEY
        present = ", ".join(sorted(map(repr, data))) or "none"
        raise SecretsManagerError(
            f"Secret {key} has no key {name!r} for the {what} (keys present: {present}; "
            f"set {prop.name!r} to use another key)."
        )
    value = data[name]
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise SecretsManagerError(
        f"Secret {key}: the {what} under key {name!r} is a {type(value).__name__}, not a string."
    )


async def cached_credentials(
    session: aioboto3.Session,
    key: SecretKey,
    ttl: float,
    time_limit: float,
    stale: DbCredentials | None = None,
) -> Fetched[DbCredentials]:
    """The cached credentials of ``key``, or freshly read ones (one read for concurrent callers)."""

    async def fetch() -> tuple[DbCredentials, float]:
        return await fetch_credentials(session, key, time_limit), ttl

    fetched = await secret_cache.get(key, fetch, max_age=ttl, stale=stale)
    if not fetched.fresh:
        logger.debug("reusing cached credentials of secret %s", key)
    return fetched
