"""Database dialects: what kind of server is behind a connection and how to query it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

from ..host_list_provider import HostListProvider, HostListProviderService, StaticHostListProvider
from ..hostinfo import HostRole

if TYPE_CHECKING:
    from ..drivers import DriverDialect
    from ..properties import Properties

__all__ = ["DatabaseDialect"]

logger = logging.getLogger(__name__)


class DatabaseDialect:
    """A kind of database server: detection, helper queries and error classification."""

    code: ClassVar[str]
    engine: ClassVar[str]  # "postgres" or "mysql": which drivers may talk to it
    default_port: ClassVar[int]
    #: Codes of more specific dialects to try once connected, in order.
    update_candidates: ClassVar[tuple[str, ...]] = ()
    is_reader_query: ClassVar[str | None] = None
    host_alias_query: ClassVar[str | None] = None
    network_error_codes: ClassVar[frozenset[str]] = frozenset()
    network_error_prefixes: ClassVar[tuple[str, ...]] = ()
    login_error_codes: ClassVar[frozenset[str]] = frozenset()
    read_only_error_codes: ClassVar[frozenset[str]] = frozenset()

    async def is_dialect(self, conn: Any, driver: DriverDialect) -> bool:
        """Whether the server behind ``conn`` is of this dialect (runs SQL; False on any error)."""
        return False

    async def _probe(self, conn: Any, driver: DriverDialect, sql: str) -> list[tuple[Any, ...]] | None:
        """Rows of ``sql``, or None when it fails (the dialect does not apply)."""
        try:
            return await driver.query(conn, sql)
        except Exception as exc:
            if not driver.is_driver_error(exc):
                raise
            logger.debug("dialect probe %s failed: %s", type(self).__name__, exc)
            if driver.is_in_transaction(conn):
                await conn.rollback()
            return None

    async def get_host_role(self, conn: Any, driver: DriverDialect, props: Properties) -> HostRole:
        """Writer or reader, by the is-reader query (UNKNOWN without one)."""
        sql = self.is_reader_query
        if sql is None:
            return HostRole.UNKNOWN
        rows = await driver.query(conn, sql)
        if not rows:
            return HostRole.UNKNOWN
        return HostRole.READER if _truthy(rows[0][0]) else HostRole.WRITER

    def create_host_list_provider(
        self, service: HostListProviderService, props: Properties
    ) -> HostListProvider:
        """The host list provider of a server without a topology: the connection string's hosts (the plugin
        service gives a topology-aware dialect the cluster's topology instead)."""
        return StaticHostListProvider(service, props)

    # --- errors ---------------------------------------------------------------------------------

    def is_network_error(self, exc: BaseException, driver: DriverDialect, conn: Any = None) -> bool:
        """Whether ``exc`` means the link to the server is gone (never true for cancellation)."""
        if not isinstance(exc, Exception) or not driver.is_driver_error(exc):
            return isinstance(exc, (ConnectionError, OSError)) and not isinstance(exc, TimeoutError)
        if self.is_login_error(exc, driver):
            return False
        code = driver.error_code(exc)
        if code is None:
            # no server error code: the driver itself lost the connection
            return isinstance(exc, driver.operational_error_class()) or (
                conn is not None and driver.is_closed(conn)
            )
        return code in self.network_error_codes or code.startswith(self.network_error_prefixes)

    def is_login_error(self, exc: BaseException, driver: DriverDialect) -> bool:
        """Whether ``exc`` is an authentication failure."""
        code = driver.error_code(exc) if isinstance(exc, Exception) else None
        return code is not None and code in self.login_error_codes

    def is_read_only_error(self, exc: BaseException, driver: DriverDialect) -> bool:
        """Whether ``exc`` says a write reached a read-only (reader) server."""
        code = driver.error_code(exc) if isinstance(exc, Exception) else None
        return code is not None and code in self.read_only_error_codes


def _truthy(value: Any) -> bool:
    if isinstance(value, (bytes, str)):
        return value.strip().lower() in (b"1", b"t", b"true", b"on", "1", "t", "true", "on")
    return bool(value)
