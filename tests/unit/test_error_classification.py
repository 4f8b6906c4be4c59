"""Which driver errors mean a lost server (failover material) and which do not."""

from __future__ import annotations

import asyncio

import psycopg
import pymysql
import pytest
from psycopg import errors as pg_errors

from awsasyncwrap.dialects import get_dialect
from awsasyncwrap.drivers import AiomysqlDriverDialect, PsycopgDriverDialect

pytestmark = pytest.mark.timeout(10)

PG = get_dialect("pg")
PSYCOPG = PsycopgDriverDialect()
MYSQL = get_dialect("mysql")
AIOMYSQL = AiomysqlDriverDialect()


@pytest.mark.parametrize(
    ("error", "network"),
    [
        (pg_errors.AdminShutdown("terminating connection due to administrator command"), True),
        (pg_errors.CannotConnectNow("the database system is starting up"), True),
        (pg_errors.IdleInTransactionSessionTimeout("idle-in-transaction timeout"), True),
        (psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"), True),
        (pg_errors.ConnectionFailure("connection failure"), True),
        (pg_errors.QueryCanceled("canceling statement due to statement timeout"), False),
        (pg_errors.UndefinedTable("relation does not exist"), False),
        (pg_errors.UniqueViolation("duplicate key"), False),
        (pg_errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction"), False),
        (asyncio.CancelledError(), False),
        (TimeoutError(), False),
        (ConnectionResetError(), True),
        (ValueError("app bug"), False),
    ],
)
def test_postgres_network_errors(error: BaseException, network: bool) -> None:
    assert PG.is_network_error(error, PSYCOPG) is network


def test_postgres_login_and_read_only_errors() -> None:
    assert PG.is_login_error(pg_errors.InvalidPassword("bad password"), PSYCOPG)
    assert not PG.is_login_error(pg_errors.UndefinedTable("x"), PSYCOPG)
    # libpq reports a refused login without SQLSTATE
    refused = psycopg.OperationalError(
        'connection failed: FATAL:  password authentication failed for user "app"'
    )
    assert PG.is_login_error(refused, PSYCOPG)
    assert not PG.is_network_error(refused, PSYCOPG)
    assert not PG.is_login_error(psycopg.OperationalError("server closed the connection"), PSYCOPG)
    assert PG.is_read_only_error(pg_errors.ReadOnlySqlTransaction("ro"), PSYCOPG)


_AT = 'connection failed: connection to server at "127.0.0.1", port 5432 failed: '


@pytest.mark.parametrize(
    ("message", "login"),
    [
        ('FATAL:  role "nobody" does not exist', True),
        ('FATAL:  database "nodb" does not exist', True),
        ('FATAL:  invalid value for parameter "statement_timeout": "soon"', True),
        ('FATAL:  unrecognized configuration parameter "no_such_setting"', True),
        ('FATAL:  no pg_hba.conf entry for host "10.0.0.1", user "app", database "app", no encryption', True),
        ('FATAL:  role "app" is not permitted to log in', True),
        ("fe_sendauth: no password supplied", True),
        ("FATAL:  the database system is starting up", False),
        ("FATAL:  sorry, too many clients already", False),
        ("Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?", False),
        ("timeout expired", False),
        ('relation "role" does not exist', False),
    ],
)
def test_postgres_login_rejections_without_sqlstate(message: str, login: bool) -> None:
    error = psycopg.OperationalError(_AT + message)
    assert PG.is_login_error(error, PSYCOPG) is login
    assert PG.is_network_error(error, PSYCOPG) is not login


def test_mysql_unknown_database_is_a_login_error() -> None:
    assert MYSQL.is_login_error(pymysql.err.OperationalError(1049, "Unknown database 'nodb'"), AIOMYSQL)


@pytest.mark.parametrize(
    ("error", "network"),
    [
        (pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"), True),
        (pymysql.err.OperationalError(2003, "Can't connect to MySQL server"), True),
        (pymysql.err.OperationalError(2006, "MySQL server has gone away"), True),
        (pymysql.err.OperationalError(1053, "Server shutdown in progress"), True),
        (pymysql.err.OperationalError(1792, "Cannot execute statement in a READ ONLY transaction"), False),
        (pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"), False),
        (
            pymysql.err.OperationalError(
                1969, "Query execution was interrupted (max_statement_time exceeded)"
            ),
            False,
        ),
        (pymysql.err.ProgrammingError(1146, "Table doesn't exist"), False),
        (pymysql.err.IntegrityError(1062, "Duplicate entry"), False),
        (asyncio.CancelledError(), False),
    ],
)
def test_mysql_network_errors(error: BaseException, network: bool) -> None:
    assert MYSQL.is_network_error(error, AIOMYSQL) is network


def test_mysql_login_and_read_only_errors() -> None:
    assert MYSQL.is_login_error(pymysql.err.OperationalError(1045, "Access denied"), AIOMYSQL)
    assert MYSQL.is_read_only_error(pymysql.err.OperationalError(1792, "read only"), AIOMYSQL)
    assert MYSQL.is_read_only_error(pymysql.err.OperationalError(1290, "--read-only option"), AIOMYSQL)
