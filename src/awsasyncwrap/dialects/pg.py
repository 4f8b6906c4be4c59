"""PostgreSQL dialect."""

from __future__ import annotations

import re
from typing import Any

from ..drivers import DriverDialect
from ._base import DatabaseDialect

__all__ = ["PgDialect"]

#: Messages of the server's (or libpq's) refusals at login, lower case (they come without a SQLSTATE).
_LOGIN_REJECTIONS = (
    "authentication failed for user",  # password, md5, scram, pam, ldap, ident, cert ...
    "no pg_hba.conf entry",
    "is not permitted to log in",
    "permission denied for database",
    "invalid value for parameter",  # a bad startup option (options=-c ...)
    "unrecognized configuration parameter",
    "invalid command-line argument",
    "no password supplied",
)
#: FATAL:  role "x" does not exist / database "x" does not exist
_UNKNOWN_OBJECT = re.compile(r'fatal:\s+(role|database) ".*" does not exist')


class PgDialect(DatabaseDialect):
    """Plain PostgreSQL."""

    code = "pg"
    engine = "postgres"
    default_port = 5432
    update_candidates = ("aurora-pg", "multi-az-pg", "rds-pg")
    is_reader_query = "SELECT pg_is_in_recovery()"
    host_alias_query = "SELECT CONCAT(inet_server_addr(), ':', inet_server_port())"
    # class 08 connection exceptions; shutdowns; system errors that end the session
    network_error_prefixes = ("08", "53", "57P", "58", "XX")
    # 25P03: the server ended an idle-in-transaction session (idle_in_transaction_session_timeout): like an
    # admin kill (57P01) or idle_session_timeout (57P05), the session is gone and the host may be healthy
    network_error_codes = frozenset({"25P03", "57P01", "57P02", "57P03"})
    login_error_codes = frozenset({"28000", "28P01"})
    read_only_error_codes = frozenset({"25006"})

    def is_login_error(self, exc: BaseException, driver: DriverDialect) -> bool:
        """An authentication failure, or any other rejection of the login itself (unknown role or
        database, a bad startup option): none of them is a lost host, none goes away by retrying."""
        if super().is_login_error(exc, driver):
            return True
        # a login rejection arrives before any SQLSTATE can: libpq only carries the server's FATAL message
        if isinstance(exc, Exception) and driver.is_driver_error(exc) and driver.error_code(exc) is None:
            text = str(exc).lower()
            return any(marker in text for marker in _LOGIN_REJECTIONS) or bool(_UNKNOWN_OBJECT.search(text))
        return False

    async def is_dialect(self, conn: Any, driver: DriverDialect) -> bool:
        rows = await self._probe(conn, driver, "SELECT 1 FROM pg_catalog.pg_proc LIMIT 1")
        return bool(rows)
