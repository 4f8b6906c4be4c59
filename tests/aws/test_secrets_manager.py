"""``aws_secrets_manager`` against moto's Secrets Manager and the suite's PostgreSQL / MariaDB."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from awsasyncwrap import AsyncAwsConnection, ConfigurationError
from awsasyncwrap.aws import SecretsManagerError, secret_cache
from fix_moto import MotoServer

from .conftest import DbLogins, MariaLogins, PgLogins, aws_client, new_password, unique
from .helpers import connect, count_calls, whoami

pytestmark = pytest.mark.timeout(60)

GET = "before-call.secrets-manager.GetSecretValue"


async def create_secret(moto: MotoServer, value: Any, region: str = "us-east-1", name: str = "") -> str:
    """Store ``value`` (JSON-encoded unless a str) as a new secret; returns its ARN."""
    text = value if isinstance(value, str) else json.dumps(value)
    async with aws_client(moto, "secretsmanager", region) as sm:
        answer = await sm.create_secret(Name=name or unique("db-secret"), SecretString=text)
    return str(answer["ARN"])


async def rotate(moto: MotoServer, arn: str, value: dict[str, str], region: str = "us-east-1") -> None:
    async with aws_client(moto, "secretsmanager", region) as sm:
        await sm.put_secret_value(SecretId=arn, SecretString=json.dumps(value))


def sm_props(moto: MotoServer, secret_id: str, **extra: Any) -> dict[str, Any]:
    return {"secrets_manager_secret_id": secret_id, "secrets_manager_endpoint": moto.endpoint, **extra}


async def test_connects_with_the_secret_and_reuses_it(moto_server: MotoServer, db: DbLogins) -> None:
    user, password = unique("sm_user"), new_password()
    await db.create(user, password)
    arn = await create_secret(moto_server, {"username": user, "password": password, "engine": db.engine})
    calls = count_calls(GET)
    for _ in range(3):
        conn = await connect(db, "aws_secrets_manager", **sm_props(moto_server, arn))
        try:
            assert await whoami(conn) == user
            props = conn.plugin_service.props
            assert "password" not in props and "user" not in props  # lent to the driver call only
        finally:
            await conn.close()
    assert len(calls) == 1


async def test_rotation_recovers_with_one_retry_and_one_read(moto_server: MotoServer, db: DbLogins) -> None:
    user, old, new = unique("sm_rot"), new_password(), new_password()
    await db.create(user, old)
    name = unique("rotating")
    arn = await create_secret(moto_server, {"username": user, "password": old}, name=name)
    calls = count_calls(GET)
    conn = await connect(db, "aws_secrets_manager", **sm_props(moto_server, name))
    await conn.close()
    assert len(calls) == 1

    await rotate(moto_server, arn, {"username": user, "password": new})
    await db.set_password(user, new)
    conn = await connect(db, "aws_secrets_manager", **sm_props(moto_server, name))  # cached `old` is refused
    try:
        assert await whoami(conn) == user
    finally:
        await conn.close()
    assert len(calls) == 2
    conn = await connect(db, "aws_secrets_manager", **sm_props(moto_server, name))
    await conn.close()
    assert len(calls) == 2


async def test_refused_fresh_credentials_are_not_retried(moto_server: MotoServer, db: DbLogins) -> None:
    user = unique("sm_bad")
    await db.create(user, new_password())
    arn = await create_secret(moto_server, {"username": user, "password": new_password()})
    calls = count_calls(GET)
    with pytest.raises(Exception) as caught:
        await connect(db, "aws_secrets_manager", **sm_props(moto_server, arn))
    assert caught.type.__name__ == "OperationalError"  # the driver's own login error
    assert len(calls) == 1


async def test_region_comes_from_the_arn(moto_server: MotoServer, pg_logins: PgLogins) -> None:
    user, password = unique("sm_west"), new_password()
    await pg_logins.create(user, password)
    arn = await create_secret(moto_server, {"username": user, "password": password}, region="eu-west-3")
    assert ":eu-west-3:" in arn
    conn = await connect(pg_logins, "aws_secrets_manager", **sm_props(moto_server, arn))  # default: us-east-1
    try:
        assert await whoami(conn) == user
    finally:
        await conn.close()


async def test_custom_json_keys(moto_server: MotoServer, pg_logins: PgLogins) -> None:
    user, password = unique("sm_keys"), new_password()
    await pg_logins.create(user, password)
    arn = await create_secret(moto_server, {"login": user, "secret": password})
    props = sm_props(
        moto_server,
        arn,
        secrets_manager_secret_username_key="login",
        secrets_manager_secret_password_key="secret",
    )
    conn = await connect(pg_logins, "aws_secrets_manager", **props)
    try:
        assert await whoami(conn) == user
    finally:
        await conn.close()


async def test_concurrent_connects_share_one_read(moto_server: MotoServer, maria_logins: MariaLogins) -> None:
    user, password, rotated = unique("sm_many"), new_password(), new_password()
    await maria_logins.create(user, password)
    arn = await create_secret(moto_server, {"username": user, "password": password})
    calls = count_calls(GET)

    async def connect_all(n: int) -> None:
        conns: list[AsyncAwsConnection] = await asyncio.gather(
            *(connect(maria_logins, "aws_secrets_manager", **sm_props(moto_server, arn)) for _ in range(n))
        )
        try:
            assert await whoami(conns[-1]) == user
        finally:
            await asyncio.gather(*(c.close() for c in conns))

    await connect_all(100)
    assert len(calls) == 1 and secret_cache.stats.fetches == 1
    # after a rotation, every connect is refused with the cached password: still one new read for all
    await rotate(moto_server, arn, {"username": user, "password": rotated})
    await maria_logins.set_password(user, rotated)
    await connect_all(50)
    assert len(calls) == 2 and secret_cache.stats.fetches == 2


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong_region", r"in us-west-2 .*was not found"),
        ("missing", r"'no-such-secret-[0-9a-f]+' in us-east-1 .*was not found"),
        ("bad_json", r"is not valid JSON"),
        ("not_object", r"is JSON but not an object \(found list\)"),
        (
            "missing_key",
            r"has no key 'password' for the password \(keys present: 'pass', 'username'.*"
            r"'secrets_manager_secret_password_key'",
        ),
        ("binary", r"holds binary data"),
    ],
)
async def test_clear_errors(moto_server: MotoServer, pg_logins: PgLogins, case: str, expected: str) -> None:
    leaked = new_password()
    extra: dict[str, Any] = {}
    if case == "wrong_region":
        secret_id = await create_secret(
            moto_server, {"username": "u", "password": leaked}, name=unique("east")
        )
        secret_id = secret_id.rsplit(":", 1)[1].rsplit("-", 1)[0]  # the plain name, not the ARN
        extra["secrets_manager_region"] = "us-west-2"
    elif case == "missing":
        secret_id = unique("no-such-secret").replace("_", "-")
    elif case == "bad_json":
        secret_id = await create_secret(moto_server, '{"username": "u", "password": "' + leaked)
    elif case == "not_object":
        secret_id = await create_secret(moto_server, ["u", leaked])
    elif case == "missing_key":
        secret_id = await create_secret(moto_server, {"username": "u", "pass": leaked})
    else:
        async with aws_client(moto_server, "secretsmanager") as sm:
            answer = await sm.create_secret(Name=unique("binary"), SecretBinary=leaked.encode())
        secret_id = answer["ARN"]
    with pytest.raises(SecretsManagerError, match=expected) as caught:
        await connect(pg_logins, "aws_secrets_manager", **sm_props(moto_server, secret_id, **extra))
    assert leaked not in str(caught.value) and leaked not in repr(caught.value)
    error = caught.value  # no chained SDK / JSON error that could carry the secret's text
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


async def test_arn_region_conflict_and_missing_id(moto_server: MotoServer, pg_logins: PgLogins) -> None:
    arn = f"arn:aws:secretsmanager:eu-west-1:123456789012:secret:{unique('x')}-AbCdEf"
    with pytest.raises(
        ConfigurationError, match="is in region eu-west-1 but secrets_manager_region='us-east-2'"
    ):
        await connect(
            pg_logins, "aws_secrets_manager", **sm_props(moto_server, arn, secrets_manager_region="us-east-2")
        )
    with pytest.raises(ConfigurationError, match="needs property 'secrets_manager_secret_id'"):
        await connect(pg_logins, "aws_secrets_manager")


async def test_unreachable_endpoint(moto_server: MotoServer, pg_logins: PgLogins) -> None:
    from awsasyncwrap.testbed._ports import free_port

    props = sm_props(moto_server, "any", secrets_manager_endpoint=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SecretsManagerError, match=r"Could not reach Secrets Manager at http://127\.0\.0\.1:"):
        await connect(pg_logins, "aws_secrets_manager", **props)


@pytest.mark.timeout(20)
async def test_silent_endpoint_times_out(
    moto_server: MotoServer, pg_logins: PgLogins, silent_server: str
) -> None:
    props = sm_props(
        moto_server, "any", secrets_manager_endpoint=f"http://{silent_server}", aws_request_timeout_sec=0.5
    )
    with pytest.raises(SecretsManagerError, match=r"did not answer within 0\.5 s"):
        await connect(pg_logins, "aws_secrets_manager", **props)
