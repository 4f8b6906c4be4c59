"""IAM database auth tokens: generation (local SigV4 presign) and the process-wide token cache."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._cache import ExpiringCache, Fetched
from ._errors import IamAuthError
from ._redact import sensitive
from ._session import aws_client, describe_aws_error

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    import aioboto3

__all__ = ["TokenKey", "generate_auth_token", "token_cache"]

logger = logging.getLogger(__name__)

#: Tokens by :class:`TokenKey`, shared by every connection of the process.
token_cache: ExpiringCache[str] = ExpiringCache("iam-tokens")


@dataclass(frozen=True, slots=True)
class TokenKey:
    """What a token is valid for; ``scope`` tells credential sources apart (profile, IdP + role)."""

    user: str
    host: str
    port: int
    region: str
    scope: str = ""

    def __str__(self) -> str:
        scope = f" [{self.scope}]" if self.scope else ""
        return f"{self.user}@{self.host}:{self.port} in {self.region}{scope}"


async def generate_auth_token(
    session: aioboto3.Session, key: TokenKey, credentials: Mapping[str, str] | None = None
) -> str:
    """A new IAM auth token for ``key`` signed with the session's (or the given) credentials.

    No network call: the token is a presigned ``connect`` request (valid 15 minutes).
    """
    try:
        with sensitive():
            async with aws_client(session, "rds", key.region, credentials=credentials) as rds:
                token: str = await rds.generate_db_auth_token(
                    DBHostname=key.host, Port=key.port, DBUsername=key.user, Region=key.region
                )
    except Exception as exc:
        error = describe_aws_error(exc, "IAM token generation", key.region)
        if error is None:
            raise
        raise IamAuthError(f"Could not generate an IAM auth token for {key}: {error}") from None
    logger.debug("generated an IAM auth token for %s", key)
    return token


async def cached_token(
    key: TokenKey,
    generate: Callable[[], Awaitable[tuple[str, float]]],
    max_age: float,
    stale: str | None = None,
) -> Fetched[str]:
    """The cached token of ``key`` (at most ``max_age`` seconds old), or a new one from ``generate()``."""
    fetched = await token_cache.get(key, generate, max_age=max_age, stale=stale)
    if not fetched.fresh:
        logger.debug("reusing the cached IAM auth token for %s", key)
    return fetched
