"""Errors of the AWS authentication helpers.

None of them ever carries a secret: messages name the secret id, the
property or the key that is wrong, never a value read from AWS or an IdP.
"""

from __future__ import annotations

from ..errors import AwsWrapperError

__all__ = ["AwsAuthError", "IamAuthError", "SamlAuthError", "SecretsManagerError"]


class AwsAuthError(AwsWrapperError):
    """An AWS authentication step failed (credentials, Secrets Manager, STS, identity provider)."""


class IamAuthError(AwsAuthError):
    """An IAM database auth token could not be generated (e.g. no AWS credentials)."""


class SecretsManagerError(AwsAuthError):
    """A database secret could not be read: missing, not readable, or not the expected JSON."""


class SamlAuthError(AwsAuthError):
    """The identity provider login or the SAML exchange with STS failed."""
