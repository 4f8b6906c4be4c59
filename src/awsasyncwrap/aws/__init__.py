"""AWS authentication for the ``iam``, ``aws_secrets_manager``, ``federated_auth`` and ``okta`` plugins.

Every AWS call is native async (aioboto3 / aiobotocore); identity providers
are reached with aiohttp. Both are imported only when first used, so this
package (and the plugin modules) import without them.

Caches are process-wide: IAM tokens by (user, host, port, region, credential
scope) and database credentials by secret. :func:`clear_caches` empties them.
"""

from __future__ import annotations

from ._cache import CacheStats, ExpiringCache, Fetched
from ._errors import AwsAuthError, IamAuthError, SamlAuthError, SecretsManagerError
from ._props import AwsProps
from ._secrets import DbCredentials, SecretKey, region_from_arn, secret_cache
from ._session import SessionFactory, aws_session, clear_sessions, set_session_factory
from ._tokens import TokenKey, generate_auth_token, token_cache

__all__ = [
    "AwsAuthError",
    "AwsProps",
    "CacheStats",
    "DbCredentials",
    "ExpiringCache",
    "Fetched",
    "IamAuthError",
    "SamlAuthError",
    "SecretKey",
    "SecretsManagerError",
    "SessionFactory",
    "TokenKey",
    "aws_session",
    "clear_caches",
    "generate_auth_token",
    "region_from_arn",
    "secret_cache",
    "set_session_factory",
    "token_cache",
]


def clear_caches() -> None:
    """Forget every cached IAM token, secret and AWS session of the process."""
    token_cache.clear()
    secret_cache.clear()
    clear_sessions()


for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
