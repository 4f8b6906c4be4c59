"""``iam`` against the suite's PostgreSQL / MariaDB: the server checks the token as the user's password."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from awsasyncwrap import ConfigurationError, Plugin, PluginFactory, PluginManager
from awsasyncwrap.aws import IamAuthError, TokenKey, token_cache
from awsasyncwrap.plugins.iam import iam_auth_token
from fix_moto import MotoServer

from .conftest import DbLogins, PgLogins, new_password, unique
from .helpers import connect, whoami

pytestmark = pytest.mark.timeout(60)


def iam_props(db: DbLogins, user: str, **extra: Any) -> dict[str, Any]:
    props = db.props(user=user, **{"iam_region": "us-east-1", **extra})
    if db.engine == "mariadb":
        props["iam_allow_without_tls"] = True  # the local server has no TLS; RDS would require it
    return props


async def test_server_accepts_the_token_and_the_cache_reuses_it(
    moto_server: MotoServer, db: DbLogins
) -> None:
    user = unique("iam_user")
    await db.create(user, new_password())
    props = iam_props(db, user)
    token = await iam_auth_token(props)
    host, port = props["host"], props["port"]
    assert token.startswith(f"{host}:{port}/?Action=connect&DBUser={user}&")
    assert "X-Amz-Expires=900" in token and "%2Fus-east-1%2Frds-db%2Faws4_request" in token
    await db.set_password(user, token)
    for _ in range(3):
        conn = await connect(db, "iam", **props)
        try:
            assert await whoami(conn) == user
            assert "password" not in conn.plugin_service.props
        finally:
            await conn.close()
    assert token_cache.stats.fetches == 1 and token_cache.stats.hits == 3


async def test_token_is_renewed_after_iam_expiration(
    moto_server: MotoServer, pg_logins: PgLogins, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = unique("iam_exp")
    await pg_logins.create(user, new_password())
    props = iam_props(pg_logins, user, iam_expiration=60)
    first = await iam_auth_token(props)
    await pg_logins.set_password(user, first)
    conn = await connect(pg_logins, "iam", **props)
    await conn.close()

    start = token_cache.clock()
    monkeypatch.setattr(token_cache, "clock", lambda: start + 59)
    assert await iam_auth_token(props) == first  # still valid: reused
    assert token_cache.stats.fetches == 1

    monkeypatch.setattr(token_cache, "clock", lambda: start + 61)
    renewed = await iam_auth_token(props)  # expired: generated anew (equal text only within one second)
    assert token_cache.stats.fetches == 2
    await pg_logins.set_password(user, renewed)
    conn = await connect(pg_logins, "iam", **props)
    try:
        assert await whoami(conn) == user
    finally:
        await conn.close()
    assert token_cache.stats.fetches == 2


async def test_wrong_token_is_refused_without_retry(moto_server: MotoServer, db: DbLogins) -> None:
    user = unique("iam_wrong")
    await db.create(user, new_password())
    props = iam_props(db, user)
    with pytest.raises(Exception) as caught:
        await connect(db, "iam", **props)  # the password is not the token
    assert caught.type.__name__ == "OperationalError"
    assert token_cache.stats.fetches == 1  # a fresh token failed: no second one


class _PasswordProbe(Plugin):
    """Test plugin inside ``iam``: records the passwords it sees; before the 2nd attempt it makes
    the server accept the password about to be sent (as if the token had just become valid)."""

    subscribed_methods = {"connect"}
    seen: list[str] = []
    on_second: Callable[[str], Awaitable[None]] | None = None

    async def connect(
        self,
        target_driver_func: Any,
        driver_dialect: Any,
        host_info: Any,
        props: Any,
        is_initial_connection: bool,
        connect_func: Any,
    ) -> Any:
        password = str(props["password"])
        _PasswordProbe.seen.append(password)
        if len(_PasswordProbe.seen) == 2 and _PasswordProbe.on_second is not None:
            await _PasswordProbe.on_second(password)
        return await connect_func()


class _PasswordProbeFactory(PluginFactory):
    def get_instance(self, plugin_service: Any, props: Any) -> Plugin:
        return _PasswordProbe()


async def test_refused_cached_token_is_retried_once_with_a_new_one(
    moto_server: MotoServer, db: DbLogins
) -> None:
    PluginManager.register_plugin("aws_test_password_probe", _PasswordProbeFactory, 1400)
    user = unique("iam_retry")
    await db.create(user, new_password())  # the server refuses the cached token
    props = iam_props(db, user)
    cached = await iam_auth_token(props)

    async def accept(password: str) -> None:
        await db.set_password(user, password)

    _PasswordProbe.seen, _PasswordProbe.on_second = [], accept
    conn = await connect(db, "iam,aws_test_password_probe", **props)
    try:
        assert await whoami(conn) == user
    finally:
        await conn.close()
    assert _PasswordProbe.seen[0] == cached and len(_PasswordProbe.seen) == 2
    key = TokenKey(user, props["host"], props["port"], "us-east-1")
    assert token_cache.peek(key) == _PasswordProbe.seen[1]
    assert token_cache.stats.fetches == 2


async def test_signed_host_port_and_region(moto_server: MotoServer) -> None:
    rds_host = "mydb.cluster-c1a2b3c4d5e6.eu-central-1.rds.amazonaws.com"
    props = {"host": "127.0.0.1", "port": 5432, "user": "app", "iam_host": rds_host, "iam_default_port": 6000}
    token = await iam_auth_token(props)
    assert token.startswith(f"{rds_host}:6000/?Action=connect&DBUser=app&")
    assert "%2Feu-central-1%2Frds-db%2Faws4_request" in token  # region read from the RDS host name
    assert await iam_auth_token({**props, "iam_region": "ap-south-1"}) != token


async def test_configuration_errors(
    moto_server: MotoServer, pg_logins: PgLogins, db: DbLogins, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match="RDS accepts a token for 900 s at most"):
        await connect(db, "iam", **iam_props(db, "u", iam_expiration=901))
    with pytest.raises(ConfigurationError, match="needs the database user"):
        await connect(db, "iam", **{k: v for k, v in iam_props(db, "u").items() if k != "user"})
    if db.engine == "pg":
        with pytest.raises(ConfigurationError, match=r"sslmode=disable.*iam_allow_without_tls=true"):
            await connect(db, "iam", **iam_props(db, "u", sslmode="disable"))
    else:
        props = {k: v for k, v in iam_props(db, "u").items() if k != "iam_allow_without_tls"}
        with pytest.raises(ConfigurationError, match=r"no ssl context is given.*iam_allow_without_tls=true"):
            await connect(db, "iam", **props)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    props = {k: v for k, v in iam_props(db, "u").items() if k != "iam_region"}
    with pytest.raises(ConfigurationError, match=r"No AWS region for IAM authentication.*'iam_region'"):
        await connect(db, "iam", **props)


async def test_no_credentials(
    moto_server: MotoServer, pg_logins: PgLogins, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(IamAuthError, match="No usable AWS credentials"):
        await connect(pg_logins, "iam", **iam_props(pg_logins, "u"))


async def test_unknown_profile(moto_server: MotoServer, pg_logins: PgLogins) -> None:
    with pytest.raises(ConfigurationError, match=r"AWS profile 'nope' .* is not in the AWS config"):
        await connect(pg_logins, "iam", **iam_props(pg_logins, "u", aws_profile="nope"))
