"""Facts of each driver live in its driver dialect (no driver-name branches elsewhere)."""

from __future__ import annotations

from typing import ClassVar

import psycopg
import pymysql
import pytest

from awsasyncwrap import ConfigurationError, HostInfo
from awsasyncwrap.drivers import AiomysqlDriverDialect, PsycopgDriverDialect, register_driver_dialect
from awsasyncwrap.properties import Properties

pytestmark = pytest.mark.timeout(10)

PG = PsycopgDriverDialect()
MYSQL = AiomysqlDriverDialect()


def test_engines() -> None:
    assert (PG.engine, MYSQL.engine) == ("pg", "mysql")


def test_a_driver_dialect_must_name_its_engine() -> None:
    class NoEngine(AiomysqlDriverDialect):
        code = "no_engine"
        engine: ClassVar[str] = "oracle"

    with pytest.raises(ConfigurationError, match=r"engine='oracle'.*'pg', 'mysql'"):
        register_driver_dialect(NoEngine)


def test_connect_timeout_in_the_driver_s_units() -> None:
    assert PG.connect_timeout_value(0.3) == 2  # libpq: whole seconds, 2 at the least
    assert PG.connect_timeout_value(2.2) == 3
    assert MYSQL.connect_timeout_value(0.3) == 0.3


def test_aim_at_an_ip_keeps_the_name_where_the_driver_can() -> None:
    host = HostInfo("db.example", 5432)
    props = Properties({"user": "app"})
    target, out = PG.aim_at(host, "10.0.0.7", props)
    assert (target.host, out["hostaddr"]) == ("db.example", "10.0.0.7")
    target, out = MYSQL.aim_at(host, "10.0.0.7", props)
    assert target.host == "10.0.0.7" and "hostaddr" not in out
    assert "hostaddr" not in props  # the caller's properties are left alone


def test_without_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGSSLMODE", raising=False)
    assert PG.without_tls({"sslmode": "disable"}) == "sslmode=disable"
    assert PG.without_tls({"sslmode": "verify-full"}) is None
    assert PG.without_tls({}) is None  # libpq's default, prefer, tries TLS first
    monkeypatch.setenv("PGSSLMODE", "allow")
    assert PG.without_tls({}) == "sslmode=allow"
    assert MYSQL.without_tls({}) == "no ssl context is given"
    assert MYSQL.without_tls({"ssl": object()}) is None


def test_bad_credentials_without_an_error_code() -> None:
    refused = psycopg.OperationalError('FATAL:  password authentication failed for user "x"')
    assert PG.says_bad_credentials(refused)
    assert not PG.says_bad_credentials(psycopg.OperationalError("connection refused"))
    assert not MYSQL.says_bad_credentials(pymysql.err.OperationalError(1045, "Access denied"))


def test_failover_error_classes_are_named_and_based_on_each_driver() -> None:
    from awsasyncwrap.errors import FailoverSuccessError
    from awsasyncwrap.plugins.failover import driver_error_class

    pg = driver_error_class(FailoverSuccessError, PG.code)
    mysql = driver_error_class(FailoverSuccessError, MYSQL.code)
    assert (pg.__name__, mysql.__name__) == ("PsycopgFailoverSuccessError", "MysqlFailoverSuccessError")
    assert issubclass(pg, psycopg.OperationalError) and issubclass(mysql, pymysql.err.OperationalError)
    assert driver_error_class(FailoverSuccessError, "no_such_driver") is FailoverSuccessError


def test_a_driver_without_server_reports_asks_the_server() -> None:
    # aiomysql hears nothing of the server's role unasked, and may always query (no failed-transaction state)
    assert MYSQL.reported_writer(object()) is None
    assert MYSQL.takes_queries(object()) is True
