"""A fake driver for pure-logic unit tests (never the only proof of a feature)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from awsasyncwrap.drivers import DriverDialect, register_driver_dialect


class FakeError(Exception):
    """A driver error with an optional code."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class FakeOperationalError(FakeError):
    """The fake driver's OperationalError."""


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self.rows: list[tuple[Any, ...]] = []
        self.closed = False
        self.description: Any = None
        self.rowcount = -1
        self.arraysize = 1

    async def execute(self, query: str, params: Any = None) -> FakeCursor:
        self.conn.log.append(("execute", query))
        if self.conn.fail_next is not None:
            error, self.conn.fail_next = self.conn.fail_next, None
            raise error
        self.rows = [(query,)]
        self.description = [("q",)]
        self.rowcount = 1
        return self

    async def fetchone(self) -> Any:
        return self.rows.pop(0) if self.rows else None

    async def fetchall(self) -> list[Any]:
        rows, self.rows = self.rows, []
        return rows

    async def fetchmany(self, size: int = 1) -> list[Any]:
        rows, self.rows = self.rows[:size], self.rows[size:]
        return rows

    async def close(self) -> None:
        self.closed = True


class FakeConnection:
    instances: ClassVar[list[FakeConnection]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.closed = False
        self.autocommit = False
        self.in_tx = False
        self.log: list[tuple[str, Any]] = []
        self.fail_next: BaseException | None = None
        self.local_attribute = "local"
        FakeConnection.instances.append(self)

    async def commit(self) -> None:
        self.log.append(("commit", None))
        self.in_tx = False

    async def rollback(self) -> None:
        self.log.append(("rollback", None))
        self.in_tx = False

    async def close(self) -> None:
        self.closed = True


async def fake_connect(**kwargs: Any) -> FakeConnection:
    """The fake driver's connect function."""
    return FakeConnection(**kwargs)


@register_driver_dialect
class FakeDriverDialect(DriverDialect):
    code = "fake"
    engine = "pg"
    generic_names: ClassVar[dict[str, str]] = {
        "host": "host",
        "port": "port",
        "user": "user",
        "password": "password",
        "database": "dbname",
    }
    network_bound_methods = frozenset(
        {
            "Connection.commit",
            "Connection.rollback",
            "Cursor.execute",
            "Connection.close",
            "Connection.set_autocommit",
        }
    )

    @classmethod
    def matches(cls, target_driver_func: Any) -> bool:
        return target_driver_func is fake_connect

    def driver_params(self) -> frozenset[str]:
        return frozenset({"host", "port", "user", "password", "dbname", "sslmode", "connect_timeout"})

    def is_closed(self, conn: Any) -> bool:
        return bool(conn.closed)

    def _release_locally(self, conn: Any) -> None:
        conn.closed = True

    def is_in_transaction(self, conn: Any) -> bool:
        return bool(conn.in_tx)

    def get_autocommit(self, conn: Any) -> bool:
        return bool(conn.autocommit)

    async def set_autocommit(self, conn: Any, value: bool) -> None:
        conn.autocommit = value

    def get_read_only(self, conn: Any) -> bool | None:
        return None

    async def set_read_only(self, conn: Any, value: bool | None) -> None:
        return None

    def get_isolation_level(self, conn: Any) -> Any:
        return None

    async def set_isolation_level(self, conn: Any, value: Any) -> None:
        return None

    def open_cursor(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        return FakeCursor(conn)

    async def query(self, conn: Any, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return []

    async def close(self, conn: Any) -> None:
        await conn.close()

    def socket_fd(self, conn: Any) -> int | None:
        return None

    def error_code(self, exc: BaseException) -> str | None:
        return getattr(exc, "code", None)

    def is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, FakeError)

    def operational_error_class(self) -> type[Exception]:
        return FakeOperationalError
