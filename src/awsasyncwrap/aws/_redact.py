"""Keep secrets out of the AWS SDK's DEBUG logs during the wrapper's own AWS calls.

botocore logs request parameters, response bodies and SigV4 signatures at
DEBUG level: a fetched secret, a SAML assertion, STS credentials or the
signature of an IAM token would land in the application's logs. While one of
our sensitive calls runs (a context variable, so only that task is
affected), a filter on the SDK's loggers replaces the arguments of their
records with a placeholder; other uses of botocore in the process are left
alone.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar

__all__ = ["sensitive"]

_PREFIXES = ("botocore", "aiobotocore", "boto3", "aioboto3", "aiohttp")
#: Loggers known to print request parameters, bodies or signatures; filtered even before their module loads.
_KNOWN = (
    "botocore.auth",
    "botocore.endpoint",
    "botocore.parsers",
    "botocore.hooks",
    "botocore.credentials",
    "botocore.httpsession",
    "botocore.retryhandler",
    "botocore.client",
    "aiobotocore.endpoint",
    "aiobotocore.parsers",
    "aiobotocore.credentials",
    "aiobotocore.httpsession",
    "aiobotocore.client",
)
_PLACEHOLDER = "<withheld: sensitive AWS call>"
_active: ContextVar[bool] = ContextVar("awsasyncwrap_sensitive_aws_call", default=False)


class _WithholdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _active.get():
            if isinstance(record.msg, str) and isinstance(record.args, tuple) and record.args:
                record.args = tuple(_PLACEHOLDER for _ in record.args)
            else:
                record.msg, record.args = _PLACEHOLDER, ()
            record.exc_info = record.exc_text = record.stack_info = None
        return True


_FILTER = _WithholdFilter()
_seen_loggers = -1


def _install() -> None:
    """Put the filter on every SDK logger that exists (new ones appear as modules get imported)."""
    global _seen_loggers
    names = logging.root.manager.loggerDict
    if len(names) == _seen_loggers:
        return
    for name in (*_KNOWN, *list(names)):
        if name.split(".", 1)[0] in _PREFIXES:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
    _seen_loggers = len(names)


@contextlib.contextmanager
def sensitive() -> Iterator[None]:
    """Within this block (and this task), SDK log records show no arguments."""
    _install()
    token = _active.set(True)
    try:
        yield
    finally:
        _active.reset(token)
        _install()  # loggers of modules imported during the call
