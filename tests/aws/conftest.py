"""Fixtures of the AWS authentication tests: clean caches, database logins with passwords, fake IdP.

The suite's PostgreSQL trusts every login; ``pg_logins`` makes members of one group role
(``awsasyncwrap_pw``) log in with a SCRAM password by prepending a line to that instance's
``pg_hba.conf`` and reloading. MariaDB checks passwords natively; users are created as root over the
instance's unix socket.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest
import pytest_asyncio

from awsasyncwrap.aws import clear_caches, set_session_factory
from awsasyncwrap.testbed import Testbed
from fix_moto import MotoServer

from .fake_idp import FakeIdp, self_signed_tls

PG_GROUP = "awsasyncwrap_pw"
_HBA_LINE = f"host all +{PG_GROUP} all scram-sha-256  # awsasyncwrap aws tests\n"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/db-access"
IDP_ARN = f"arn:aws:iam::{ACCOUNT}:saml-provider/fake-idp"


@pytest.fixture(autouse=True)
def _fresh_aws_state() -> Any:
    """Every test starts with empty token / secret caches and default sessions."""
    set_session_factory(None)
    clear_caches()
    yield
    set_session_factory(None)
    clear_caches()


def unique(prefix: str) -> str:
    """A name no other test uses (database users, secrets)."""
    return f"{prefix}_{secrets.token_hex(4)}"


def new_password() -> str:
    """A random password that is easy to grep for."""
    return f"pw-{secrets.token_hex(16)}"


class DbLogins(Protocol):
    """A database of the testbed where the test can create users with passwords."""

    engine: str
    connect_func: Any

    def props(self, **extra: Any) -> dict[str, Any]: ...
    async def create(self, user: str, password: str) -> None: ...
    async def set_password(self, user: str, password: str) -> None: ...


class PgLogins:
    engine = "pg"

    def __init__(self, server: Testbed) -> None:
        import psycopg

        self._server = server
        self._admin_dsn = server.dsn(server.writer, direct=True)
        self.connect_func = psycopg.AsyncConnection.connect

    def props(self, **extra: Any) -> dict[str, Any]:
        host, port = self._server.address_of(self._server.writer, direct=True)
        return {"host": host, "port": port, "dbname": "postgres", "connect_timeout": 10, **extra}

    async def _admin(self, statement: Any) -> None:
        import psycopg

        async with await psycopg.AsyncConnection.connect(self._admin_dsn, autocommit=True) as conn:
            await conn.execute(statement)

    async def enable_passwords(self) -> None:
        """Members of PG_GROUP must give a password (idempotent)."""
        from psycopg import sql

        await self._admin(
            sql.SQL(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {}) "
                "THEN CREATE ROLE {} NOLOGIN; END IF; END $$"
            ).format(sql.Literal(PG_GROUP), sql.Identifier(PG_GROUP))
        )
        hba = Path(self._server.writer.data_dir) / "pg_hba.conf"
        text = hba.read_text()
        if _HBA_LINE not in text:
            hba.write_text(_HBA_LINE + text)  # first matching line wins
            await self._admin("SELECT pg_reload_conf()")
        await self._wait_passwords_required()

    async def _wait_passwords_required(self) -> None:
        import anyio
        import psycopg

        probe = unique("probe")
        await self.create(probe, new_password())
        with anyio.fail_after(10):
            while True:
                try:
                    conn = await psycopg.AsyncConnection.connect(**self.props(user=probe, password="wrong"))
                except psycopg.OperationalError:
                    return  # refused: the new rule is live
                await conn.close()
                await anyio.sleep(0.02)

    async def create(self, user: str, password: str) -> None:
        from psycopg import sql

        await self._admin(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                sql.Identifier(user), sql.Literal(password), sql.Identifier(PG_GROUP)
            )
        )

    async def set_password(self, user: str, password: str) -> None:
        from psycopg import sql

        await self._admin(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(user), sql.Literal(password))
        )


class MariaLogins:
    engine = "mariadb"

    def __init__(self, server: Testbed) -> None:
        import aiomysql

        self._server = server
        # root logs in without a password over the instance's unix socket (testbed layout)
        self._socket = Path(server.writer.data_dir).parent / "mysqld.sock"
        self.connect_func = aiomysql.connect

    def props(self, **extra: Any) -> dict[str, Any]:
        host, port = self._server.address_of(self._server.writer, direct=True)
        return {"host": host, "port": port, "db": self._server.database, "connect_timeout": 10, **extra}

    async def _admin(self, statement: str, args: Any = None) -> None:
        import aiomysql

        conn = await aiomysql.connect(
            unix_socket=str(self._socket), user="root", password="", autocommit=True
        )
        try:
            async with conn.cursor() as cur:
                await cur.execute(statement, args)
        finally:
            conn.close()

    async def create(self, user: str, password: str) -> None:
        await self._admin(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
        await self._admin(f"GRANT ALL ON `{self._server.database}`.* TO '{user}'@'%'")

    async def set_password(self, user: str, password: str) -> None:
        await self._admin(f"ALTER USER '{user}'@'%%' IDENTIFIED BY %s", (password,))


@pytest_asyncio.fixture(loop_scope="session")
async def pg_logins(pg_server: Testbed) -> PgLogins:
    logins = PgLogins(pg_server)
    await logins.enable_passwords()
    return logins


@pytest_asyncio.fixture(loop_scope="session")
async def maria_logins(mariadb_server: Testbed) -> MariaLogins:
    return MariaLogins(mariadb_server)


@pytest.fixture(params=["pg", "mariadb"])
def db(request: pytest.FixtureRequest) -> DbLogins:
    """Each test using it runs against PostgreSQL (psycopg) and MariaDB (aiomysql)."""
    name = "pg_logins" if request.param == "pg" else "maria_logins"
    logins: DbLogins = request.getfixturevalue(name)
    return logins


@asynccontextmanager
async def aws_client(moto: MotoServer, service: str, region: str = "us-east-1") -> AsyncIterator[Any]:
    """A client of the test itself (setup, rotation), talking to moto."""
    import aioboto3

    async with aioboto3.Session().client(service, region_name=region, endpoint_url=moto.endpoint) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def fake_idp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FakeIdp]:
    """A fake ADFS + Okta on https://127.0.0.1:<port> (self-signed certificate)."""
    idp = FakeIdp(ROLE_ARN, IDP_ARN, users={"alice@example.com": new_password()})
    await idp.start(self_signed_tls(tmp_path_factory.mktemp("idp")))
    try:
        yield idp
    finally:
        await idp.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def silent_server() -> AsyncIterator[str]:
    """``127.0.0.1:<port>`` of a server that accepts connections and never answers."""
    import asyncio

    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
