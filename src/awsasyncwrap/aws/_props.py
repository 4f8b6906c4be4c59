"""Connection properties of the AWS authentication plugins (registered on import).

Importing this module needs no optional dependency, so the wrapper can
validate property names even where aioboto3 / aiohttp are not installed.
"""

from __future__ import annotations

from typing import Any

from ..properties import WrapperProperty, _parse_bool, _parse_float, _parse_int, _parse_str, register_property

__all__ = ["MAX_IAM_EXPIRATION_SEC", "AwsProps"]

#: RDS accepts an IAM auth token for 15 minutes after it was signed.
MAX_IAM_EXPIRATION_SEC = 900


def _str(name: str, default: str | None, description: str) -> WrapperProperty[str]:
    return register_property(WrapperProperty(name, description, default, _parse_str))


def _int(name: str, default: int | None, description: str, minimum: int = 0) -> WrapperProperty[int]:
    return register_property(WrapperProperty(name, description, default, _parse_int, min_value=minimum))


def _float(name: str, default: float | None, description: str) -> WrapperProperty[float]:
    return register_property(WrapperProperty(name, description, default, _parse_float, min_value=0))


def _bool(name: str, default: bool, description: str) -> WrapperProperty[bool]:
    return register_property(WrapperProperty(name, description, default, _parse_bool))


class AwsProps:
    """Every property of the ``iam``, ``aws_secrets_manager``, ``federated_auth`` and ``okta`` plugins."""

    # --- AWS session -------------------------------------------------------------------------
    AWS_PROFILE = _str("aws_profile", None, "AWS profile whose credentials and region the plugins use.")
    AWS_REQUEST_TIMEOUT_SEC = _float(
        "aws_request_timeout_sec", 30.0, "Upper bound for one AWS API exchange (Secrets Manager, STS)."
    )
    # --- IAM database authentication -------------------------------------------------------
    IAM_HOST = _str("iam_host", None, "Host name the IAM token is signed for (default: the connection's).")
    IAM_DEFAULT_PORT = _int(
        "iam_default_port", None, "Port the IAM token is signed for (default: the connection's port).", 1
    )
    IAM_REGION = _str("iam_region", None, "AWS region of the database (default: from the RDS host name).")
    IAM_EXPIRATION = _int(
        "iam_expiration", 870, "Seconds a generated IAM token is reused (at most 900, RDS's limit).", 1
    )
    IAM_ALLOW_WITHOUT_TLS = _bool(
        "iam_allow_without_tls",
        False,
        "Allow sending IAM tokens over a connection without TLS (only for local test databases).",
    )
    # --- Secrets Manager ---------------------------------------------------------------------
    SECRET_ID = _str("secrets_manager_secret_id", None, "Name or ARN of the secret holding the credentials.")
    SECRET_REGION = _str(
        "secrets_manager_region", None, "Region of the secret (default: from the ARN, else the session's)."
    )
    SECRET_ENDPOINT = _str(
        "secrets_manager_endpoint", None, "Secrets Manager endpoint URL override, e.g. a VPC endpoint."
    )
    SECRET_EXPIRATION = _int(
        "secrets_manager_expiration", 870, "Seconds a fetched secret is reused before it is read again."
    )
    SECRET_USERNAME_KEY = _str(
        "secrets_manager_secret_username_key", "username", "Key of the user name in the secret's JSON."
    )
    SECRET_PASSWORD_KEY = _str(
        "secrets_manager_secret_password_key", "password", "Key of the password in the secret's JSON."
    )
    # --- federated authentication (SAML: ADFS, Okta) -------------------------------------------
    IDP_ENDPOINT = _str("idp_endpoint", None, "Host name (or https:// URL) of the identity provider.")
    IDP_PORT = _int("idp_port", 443, "Port of the identity provider.", 1)
    IDP_USERNAME = _str("idp_username", None, "User name at the identity provider.")
    IDP_PASSWORD = _str("idp_password", None, "Password at the identity provider.")
    IAM_ROLE_ARN = _str("iam_role_arn", None, "ARN of the IAM role assumed with the SAML assertion.")
    IAM_IDP_ARN = _str("iam_idp_arn", None, "ARN of the IAM SAML identity provider.")
    DB_USER = _str("db_user", None, "Database user the IAM token is generated for (federated plugins).")
    RP_IDENTIFIER = _str("rp_identifier", "urn:amazon:webservices", "ADFS relying party identifier of AWS.")
    APP_ID = _str("app_id", None, "Okta application id of the AWS app.")
    HTTP_REQUEST_CONNECT_TIMEOUT = _float(
        "http_request_connect_timeout", 60.0, "Seconds allowed to connect to the identity provider."
    )
    SSL_SECURE = _bool("ssl_secure", True, "Verify the identity provider's TLS certificate.")
    STS_ENDPOINT = _str("sts_endpoint", None, "STS endpoint URL override for AssumeRoleWithSAML.")

    @classmethod
    def all(cls) -> dict[str, WrapperProperty[Any]]:
        """Every AWS plugin property by name."""
        return {p.name: p for p in vars(cls).values() if isinstance(p, WrapperProperty)}
