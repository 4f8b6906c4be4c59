"""aioboto3 sessions and clients for the AWS plugins.

Credentials and the default region come from the usual AWS chain (explicit
session, ``aws_profile``, environment, config files, container / instance
metadata). One session per profile is kept for the process; an application
that wants explicit credentials installs its own factory with
:func:`set_session_factory`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ._errors import AwsAuthError
from ._props import AwsProps
from ._redact import _install

if TYPE_CHECKING:
    import aioboto3

__all__ = [
    "SessionFactory",
    "aws_client",
    "aws_session",
    "clear_sessions",
    "client_error_code",
    "default_region",
    "describe_aws_error",
    "session_for",
    "set_session_factory",
]

logger = logging.getLogger(__name__)

#: Builds the session for a profile name (None: the default chain).
SessionFactory = Callable[[str | None], "aioboto3.Session"]

_sessions: dict[str | None, aioboto3.Session] = {}
_factory: SessionFactory | None = None


def _import_aioboto3() -> Any:
    try:
        import aioboto3
    except ImportError:
        raise ConfigurationError("The AWS plugins need aioboto3: pip install 'awsasyncwrap[aws]'.") from None
    _install()  # the SDK's loggers exist now: filter them before the first call
    return aioboto3


def set_session_factory(factory: SessionFactory | None) -> None:
    """Use ``factory(profile)`` to build AWS sessions (None: back to ``aioboto3.Session(profile_name=...)``).

    Sessions made so far are forgotten; cached tokens and secrets are kept.
    """
    global _factory
    _factory = factory
    _sessions.clear()


def clear_sessions() -> None:
    """Forget every session (the next call resolves credentials anew)."""
    _sessions.clear()


def aws_session(profile: str | None = None) -> aioboto3.Session:
    """The process-wide session for ``profile`` (None: default credential chain)."""
    session = _sessions.get(profile)
    if session is not None:
        return session
    aioboto3 = _import_aioboto3()
    from botocore.exceptions import ProfileNotFound

    try:
        session = _factory(profile) if _factory is not None else aioboto3.Session(profile_name=profile)
    except ProfileNotFound:
        raise ConfigurationError(
            f"AWS profile {profile!r} (property {AwsProps.AWS_PROFILE.name!r}) is not in the AWS config."
        ) from None
    _sessions[profile] = session
    return session


def session_for(props: Mapping[str, Any]) -> aioboto3.Session:
    """The session a connection's properties ask for (``aws_profile``)."""
    return aws_session(AwsProps.AWS_PROFILE.get(props))


@contextlib.asynccontextmanager
async def aws_client(
    session: aioboto3.Session,
    service: str,
    region: str,
    *,
    endpoint_url: str | None = None,
    unsigned: bool = False,
    credentials: Mapping[str, str] | None = None,
    retries: int = 3,
) -> AsyncIterator[Any]:
    """An aiobotocore client of ``service`` in ``region`` (closed on exit); ``retries`` after a first try."""
    _import_aioboto3()
    from aiobotocore.config import AioConfig

    options: dict[str, Any] = {"retries": {"mode": "standard", "max_attempts": retries}}
    if unsigned:
        from botocore import UNSIGNED

        options["signature_version"] = UNSIGNED
    async with session.client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        config=AioConfig(**options),
        **(credentials or {}),
    ) as client:
        yield client


def default_region(session: aioboto3.Session) -> str | None:
    """The session's own region (``AWS_REGION`` / ``AWS_DEFAULT_REGION`` / profile), if any."""
    region = session.region_name
    return str(region) if region else None


def describe_aws_error(exc: BaseException, service: str, where: str) -> AwsAuthError | None:
    """An error naming what went wrong for SDK errors that are not per-request answers, else None."""
    from botocore import exceptions as bx

    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError, bx.CredentialRetrievalError)):
        return AwsAuthError(
            f"No usable AWS credentials for {service} ({type(exc).__name__}): configure a profile "
            f"({AwsProps.AWS_PROFILE.name!r}), environment variables or an instance role."
        )
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError)):
        return AwsAuthError(f"Could not reach {service} at {where}: {type(exc).__name__}.")
    if isinstance(exc, bx.NoRegionError):
        return AwsAuthError(f"No AWS region for {service}.")
    if isinstance(exc, bx.BotoCoreError):
        return AwsAuthError(f"{service} call failed at {where}: {type(exc).__name__}.")
    return None


def client_error_code(exc: BaseException) -> str | None:
    """The AWS error code of a ``ClientError`` (e.g. ``ResourceNotFoundException``), else None."""
    response = getattr(exc, "response", None)
    if not isinstance(response, Mapping):
        return None
    error = response.get("Error")
    code = error.get("Code") if isinstance(error, Mapping) else None
    return str(code) if code else None
