"""The wrapper reaches the server the driver itself would reach: libpq's rules (env vars, service file, URI,
host lists, hostaddr) and aiomysql's (its defaults, ``read_default_file``, ``unix_socket``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiomysql
import psycopg
import pytest

from awsasyncwrap import AsyncAwsConnection, ConfigurationError, FailoverSuccessError, release_resources
from awsasyncwrap.testbed import Testbed
from wrapped import Db

pytestmark = pytest.mark.timeout(60)

_PG_WHO = (
    "SELECT (SELECT system_identifier FROM pg_control_system()), inet_server_port(), "
    "current_user, current_database()"
)
_PG_ENV = ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE", "PGSERVICEFILE", "PGHOSTADDR")


@pytest.fixture
def clean_pg_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _PG_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


async def _pg_who(conn: Any) -> tuple[Any, ...]:
    cur = conn.cursor()
    await cur.execute(_PG_WHO)
    row = await cur.fetchone()
    await cur.close()
    return tuple(row)


async def _same_server_pg(
    conninfo: str,
    plugins: str | None = "",
    wrapper_extra: str = "",
    wrapper_props: dict[str, Any] | None = None,
    **kwargs: Any,
) -> AsyncAwsConnection:
    """Connect raw and wrapped with the same settings (``wrapper_extra`` / ``wrapper_props``: more for the
    wrapper only); both must land on the same server and login."""
    raw = await psycopg.AsyncConnection.connect(conninfo, **kwargs)
    try:
        expected = await _pg_who(raw)
        raw_host, raw_port = raw.info.host, raw.info.port
    finally:
        await raw.close()
    wrapped = AsyncAwsConnection.of(
        await AsyncAwsConnection.connect(
            psycopg.AsyncConnection.connect,
            f"{conninfo} {wrapper_extra}",
            plugins=plugins,
            **kwargs,
            **(wrapper_props or {}),
        )
    )
    try:
        assert await _pg_who(wrapped) == expected
        assert wrapped.current_host is not None
        assert (wrapped.current_host.host, wrapped.current_host.port) == (raw_host, raw_port)
    except BaseException:
        await wrapped.close()
        raise
    return wrapped


async def test_pg_env_vars_with_empty_conninfo(pg_server: Testbed, clean_pg_env: pytest.MonkeyPatch) -> None:
    host, port = pg_server.address_of(pg_server.writer)
    clean_pg_env.setenv("PGHOST", host)
    clean_pg_env.setenv("PGPORT", str(port))
    clean_pg_env.setenv("PGUSER", pg_server.user)
    clean_pg_env.setenv("PGDATABASE", pg_server.database)
    for plugins in ("", None):  # no plugins, and the default set
        conn = await _same_server_pg("", plugins)
        await conn.close()
    await release_resources()


async def test_pg_service_file(pg_server: Testbed, clean_pg_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    host, port = pg_server.address_of(pg_server.writer)
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text(
        f"# test services\n[other]\nhost=192.0.2.1\n\n[app]\nhost={host}\nport={port}\n"
        f"user={pg_server.user}\ndbname={pg_server.database}\n"
    )
    clean_pg_env.setenv("PGSERVICEFILE", str(service_file))
    conn = await _same_server_pg("service=app")
    await conn.close()
    # a wrapper property in the same string is taken out before libpq sees it
    conn = await _same_server_pg("service=app", plugins=None, wrapper_extra="plugins=''")
    assert conn.plugin_service.plugins == []
    await conn.close()
    clean_pg_env.setenv("PGSERVICE", "app")
    conn = await _same_server_pg("")
    await conn.close()


async def test_pg_unknown_service_is_a_clear_error(clean_pg_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text("[app]\nhost=localhost\n")
    clean_pg_env.setenv("PGSERVICEFILE", str(service_file))
    with pytest.raises(psycopg.OperationalError, match="nope"):
        await psycopg.AsyncConnection.connect("service=nope")
    with pytest.raises(ConfigurationError, match='service "nope" not found'):
        await AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, "service=nope")


async def test_pg_uri(pg_server: Testbed, clean_pg_env: pytest.MonkeyPatch) -> None:
    host, port = pg_server.address_of(pg_server.writer)
    uri = f"postgresql://{pg_server.user}@{host}:{port}/{pg_server.database}?connect_timeout=5"
    conn = await _same_server_pg(uri)
    await conn.close()
    wrapped = AsyncAwsConnection.of(
        await AsyncAwsConnection.connect(
            psycopg.AsyncConnection.connect, uri + "&plugins=execute_time&application_name=uri%20test"
        )
    )
    try:
        assert [type(p).__name__ for p in wrapped.plugin_service.plugins] == ["ExecuteTimePlugin"]
        cur = wrapped.cursor()
        await cur.execute("SELECT current_setting('application_name')")
        assert await cur.fetchone() == ("uri test",)
    finally:
        await wrapped.close()


async def test_pg_host_list_first_host_down(pg_server: Testbed, clean_pg_env: pytest.MonkeyPatch) -> None:
    host, port = pg_server.address_of(pg_server.writer)
    # libpq tries each host in turn: port 1 refuses, the second host answers
    conn = await _same_server_pg(
        f"host=127.0.0.1,{host} port=1,{port} user={pg_server.user} dbname={pg_server.database}"
    )
    await conn.close()
    uri = f"postgresql://{pg_server.user}@127.0.0.1:1,{host}:{port}/{pg_server.database}"
    conn = await _same_server_pg(uri)
    await conn.close()


async def test_pg_host_list_errors(clean_pg_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="3 port numbers to 2 hosts"):
        await AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, "host=a,b port=1,2,3")
    with pytest.raises(ConfigurationError, match="'x'"):
        await AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, "host=a port=x")


async def test_pg_hostaddr(pg_server: Testbed, clean_pg_env: pytest.MonkeyPatch) -> None:
    host, port = pg_server.address_of(pg_server.writer)
    conninfo = (
        f"host=db.invalid hostaddr={host} port={port} user={pg_server.user} dbname={pg_server.database}"
    )
    conn = await _same_server_pg(conninfo)
    await conn.close()


# --- aiomysql -----------------------------------------------------------------------------------------------


async def _mysql_who(conn: Any) -> tuple[Any, ...]:
    return tuple((await Db.run(conn, "SELECT @@server_id, @@port, CURRENT_USER(), DATABASE()"))[0])


async def test_mysql_option_file(mariadb_server: Testbed, tmp_path: Path) -> None:
    host, port = mariadb_server.address_of(mariadb_server.writer)
    option_file = tmp_path / "my.cnf"
    option_file.write_text(
        f"[client]\nhost={host}\nport={port}\nuser={mariadb_server.user}\n"
        f"password={mariadb_server.password}\ndatabase={mariadb_server.database}\n"
    )
    raw = await aiomysql.connect(read_default_file=str(option_file))
    try:
        expected = await _mysql_who(raw)
    finally:
        raw.close()
    conn = await AsyncAwsConnection.connect(aiomysql.connect, read_default_file=str(option_file), plugins="")
    try:
        assert await _mysql_who(conn) == expected
        assert conn.current_host is not None and conn.current_host.url == f"{host}:{port}"
    finally:
        await conn.close()


async def test_mysql_option_file_does_not_pin_failover(mariadb_cluster: Testbed, tmp_path: Path) -> None:
    """aiomysql lets an option file override the host keyword; failover must still reach the new writer."""
    tb = mariadb_cluster
    db = Db(tb)
    host, port = tb.address_of(tb.writer)
    option_file = tmp_path / "my.cnf"
    option_file.write_text(
        f"[client]\nhost={host}\nport={port}\nuser={tb.user}\npassword={tb.password}\n"
        f"database={tb.database}\n"
    )
    props: dict[str, Any] = tb.wrapper_props()
    conn = await AsyncAwsConnection.connect(
        aiomysql.connect,
        read_default_file=str(option_file),
        plugins="failover",
        autocommit=True,
        monitor_disposal_time_ms=0,
        **props,
    )
    try:
        assert await db.host_id(conn) == tb.writer.id
        report = await tb.failover()
        with pytest.raises(FailoverSuccessError):
            await db.run(conn, "SELECT 1")
        assert await db.host_id(conn) == report.new_writer
    finally:
        await conn.close()
        await release_resources()


async def test_mysql_unix_socket_is_bound_to_its_host(mariadb_cluster: Testbed) -> None:
    """``unix_socket`` reaches the server it names, and only that one: failover goes to the new writer."""
    tb = mariadb_cluster
    db = Db(tb)
    socket_path = str(tb.writer.data_dir.parent / "mysqld.sock")  # the testbed's layout
    # the port is for the other instances (TCP); aiomysql ignores it when it uses the socket
    kwargs: dict[str, Any] = {
        "unix_socket": socket_path,
        "port": tb.port,
        "user": tb.user,
        "password": tb.password,
    }
    kwargs["db"] = tb.database
    raw = await aiomysql.connect(**kwargs)
    try:
        expected = await _mysql_who(raw)
    finally:
        raw.close()
    props: dict[str, Any] = tb.wrapper_props()
    conn = await AsyncAwsConnection.connect(
        aiomysql.connect,
        **kwargs,
        plugins="failover",
        autocommit=True,
        monitor_disposal_time_ms=0,
        **props,
    )
    try:
        assert await _mysql_who(conn) == expected
        assert conn.current_host is not None
        assert conn.current_host.url == f"localhost:{tb.port}"  # aiomysql's default host
        report = await tb.failover()
        with pytest.raises(FailoverSuccessError):
            await db.run(conn, "SELECT 1")
        assert await db.host_id(conn) == report.new_writer
    finally:
        await conn.close()
        await release_resources()


async def test_mysql_bad_port_is_a_clear_error(mariadb_server: Testbed) -> None:
    kwargs = mariadb_server.connect_kwargs(mariadb_server.writer)
    with pytest.raises(ConfigurationError, match="'x'"):
        await AsyncAwsConnection.connect(aiomysql.connect, **{**kwargs, "port": "x"})


@pytest.mark.parametrize("plugins", ["", None])
async def test_pg_host_list_prefer_standby_and_load_balancing(
    pg_cluster: Testbed, clean_pg_env: pytest.MonkeyPatch, plugins: str | None
) -> None:
    """psycopg's own order of attempts: prefer-standby tries every host as a standby first."""
    tb = pg_cluster
    writer = tb.address_of(tb.writer)
    reader = tb.address_of(tb.readers[0])
    hosts = f"host={writer[0]},{reader[0]} port={writer[1]},{reader[1]}"
    conninfo = f"{hosts} user={tb.user} dbname={tb.database} target_session_attrs=prefer-standby"
    conn = await _same_server_pg(
        conninfo, plugins, wrapper_props=None if plugins == "" else tb.wrapper_props()
    )
    try:
        assert conn.current_host is not None and conn.current_host.url == f"{reader[0]}:{reader[1]}"
    finally:
        await conn.close()
        await release_resources()
    seen = set()
    for _ in range(12):  # load_balance_hosts=random: both hosts get picked, as with psycopg
        conn = AsyncAwsConnection.of(
            await AsyncAwsConnection.connect(
                psycopg.AsyncConnection.connect,
                f"{hosts} user={tb.user} dbname={tb.database} load_balance_hosts=random",
                plugins="",
            )
        )
        assert conn.current_host is not None
        seen.add(conn.current_host.url)
        await conn.close()
        if len(seen) == 2:
            break
    assert seen == {f"{writer[0]}:{writer[1]}", f"{reader[0]}:{reader[1]}"}
