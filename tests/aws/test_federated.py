"""``federated_auth`` (ADFS) and ``okta``: fake IdP on loopback + moto's STS + the suite's databases."""

from __future__ import annotations

from typing import Any

import pytest

from awsasyncwrap import ConfigurationError
from awsasyncwrap.aws import SamlAuthError, token_cache
from awsasyncwrap.plugins.federated_auth import federated_auth_token
from awsasyncwrap.plugins.okta import okta_auth_token
from fix_moto import MotoServer

from .conftest import IDP_ARN, ROLE_ARN, DbLogins, PgLogins, new_password, unique
from .fake_idp import FakeIdp
from .helpers import connect, whoami

pytestmark = pytest.mark.timeout(60)

USER = "alice@example.com"
TOKEN_FUNCS = {"federated_auth": federated_auth_token, "okta": okta_auth_token}


def fed_props(
    db: DbLogins, idp: FakeIdp, moto: MotoServer, plugin: str, db_user: str, **extra: Any
) -> dict[str, Any]:
    props: dict[str, Any] = {
        **db.props(),
        "idp_endpoint": idp.host,
        "idp_port": idp.port,
        "idp_username": USER,
        "idp_password": idp.users[USER],
        "iam_role_arn": ROLE_ARN,
        "iam_idp_arn": IDP_ARN,
        "db_user": db_user,
        "iam_region": "us-east-1",
        "sts_endpoint": moto.endpoint,
        "ssl_secure": False,  # the fake IdP's certificate is self-signed
    }
    if plugin == "okta":
        props["app_id"] = idp.app_id
    if db.engine == "mariadb":
        props["iam_allow_without_tls"] = True
    props.update(extra)
    return props


@pytest.mark.parametrize("plugin", ["federated_auth", "okta"])
async def test_end_to_end(moto_server: MotoServer, fake_idp: FakeIdp, db: DbLogins, plugin: str) -> None:
    db_user = unique("fed_user")
    await db.create(db_user, new_password())
    props = fed_props(db, fake_idp, moto_server, plugin, db_user)
    token = await TOKEN_FUNCS[plugin](props)  # IdP login + AssumeRoleWithSAML + signed token
    assert fake_idp.logins == 1
    assert token.startswith(f"{props['host']}:{props['port']}/?Action=connect&DBUser={db_user}&")
    assert "X-Amz-Security-Token=" in token  # signed with the assumed role's temporary credentials
    await db.set_password(db_user, token)
    for _ in range(2):
        conn = await connect(db, plugin, **props)
        try:
            assert await whoami(conn) == db_user
            assert conn.plugin_service.props.get("user") is None  # db_user was lent to the driver call only
            assert "password" not in conn.plugin_service.props
        finally:
            await conn.close()
    assert fake_idp.logins == 1 and token_cache.stats.fetches == 1  # no new IdP login within the expiry


@pytest.mark.parametrize("plugin", ["federated_auth", "okta"])
async def test_wrong_idp_password(
    moto_server: MotoServer, fake_idp: FakeIdp, pg_logins: PgLogins, plugin: str
) -> None:
    wrong = new_password()
    props = fed_props(pg_logins, fake_idp, moto_server, plugin, "nobody", idp_password=wrong)
    expected = "no SAML assertion" if plugin == "federated_auth" else r"rejected the login .*HTTP 401"
    with pytest.raises(SamlAuthError, match=expected) as caught:
        await connect(pg_logins, plugin, **props)
    assert wrong not in str(caught.value) and USER in str(caught.value)
    assert fake_idp.failed_logins >= 1 and fake_idp.logins == 0


@pytest.mark.parametrize("plugin", ["federated_auth", "okta"])
async def test_untrusted_idp_certificate(
    moto_server: MotoServer, fake_idp: FakeIdp, pg_logins: PgLogins, plugin: str
) -> None:
    props = fed_props(pg_logins, fake_idp, moto_server, plugin, "nobody", ssl_secure=True)
    with pytest.raises(SamlAuthError, match=r"TLS certificate of the identity provider .* is not trusted"):
        await connect(pg_logins, plugin, **props)
    assert fake_idp.logins == 0


async def test_okta_unknown_app(moto_server: MotoServer, fake_idp: FakeIdp, pg_logins: PgLogins) -> None:
    props = fed_props(pg_logins, fake_idp, moto_server, "okta", "nobody", app_id="0oa-other")
    with pytest.raises(SamlAuthError, match="answered HTTP 404 to the SAML request of app '0oa-other'"):
        await connect(pg_logins, "okta", **props)


async def test_configuration_errors(moto_server: MotoServer, fake_idp: FakeIdp, pg_logins: PgLogins) -> None:
    base = fed_props(pg_logins, fake_idp, moto_server, "federated_auth", "u")
    with pytest.raises(ConfigurationError, match="must be a host name or an https:// URL"):
        await connect(
            pg_logins, "federated_auth", **{**base, "idp_endpoint": f"http://127.0.0.1:{fake_idp.port}"}
        )
    for missing in ("idp_endpoint", "idp_username", "idp_password", "iam_role_arn", "iam_idp_arn", "db_user"):
        props = {k: v for k, v in base.items() if k != missing}
        with pytest.raises(ConfigurationError, match=f"needs property '{missing}'"):
            await connect(pg_logins, "federated_auth", **props)
    okta = fed_props(pg_logins, fake_idp, moto_server, "okta", "u")
    with pytest.raises(ConfigurationError, match="needs property 'app_id'"):
        await connect(pg_logins, "okta", **{k: v for k, v in okta.items() if k != "app_id"})


async def test_idp_endpoint_as_url(moto_server: MotoServer, fake_idp: FakeIdp, pg_logins: PgLogins) -> None:
    props = fed_props(
        pg_logins, fake_idp, moto_server, "okta", "u", idp_endpoint=fake_idp.endpoint, idp_port=1
    )
    assert await okta_auth_token(props)  # the URL's port wins over idp_port
    assert fake_idp.logins == 1


@pytest.mark.timeout(20)
@pytest.mark.parametrize("plugin", ["federated_auth", "okta"])
async def test_silent_idp_times_out(
    moto_server: MotoServer, fake_idp: FakeIdp, pg_logins: PgLogins, silent_server: str, plugin: str
) -> None:
    host, port = silent_server.split(":")
    props = fed_props(
        pg_logins,
        fake_idp,
        moto_server,
        plugin,
        "u",
        idp_endpoint=host,
        idp_port=int(port),
        aws_request_timeout_sec=0.5,
    )
    with pytest.raises(SamlAuthError, match="did not answer in time"):
        await connect(pg_logins, plugin, **props)
