"""Pure helpers of the AWS plugins: lent credentials, HTML forms, ARNs, TLS checks, IdP settings, imports."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest

from awsasyncwrap import ConfigurationError, Properties
from awsasyncwrap.aws import DbCredentials, region_from_arn
from awsasyncwrap.aws._connect import check_tls, lent_credentials
from awsasyncwrap.aws._html import find_input, parse_forms
from awsasyncwrap.aws._saml import SamlSettings
from awsasyncwrap.drivers import AiomysqlDriverDialect, PsycopgDriverDialect

pytestmark = pytest.mark.timeout(30)


async def test_lent_credentials_are_taken_back_even_when_connects_interleave() -> None:
    props = Properties(user="app", password="own")
    first_in, second_in, first_out = asyncio.Event(), asyncio.Event(), asyncio.Event()
    seen: dict[str, tuple[str, str]] = {}

    async def attempt(name: str, token: str, enter: asyncio.Event, wait: asyncio.Event) -> None:
        with lent_credentials(props, {"password": token}):
            enter.set()
            await wait.wait()
            seen[name] = (str(props["user"]), str(props["password"]))

    one = asyncio.create_task(attempt("one", "tok-1", first_in, second_in))
    await first_in.wait()
    two = asyncio.create_task(attempt("two", "tok-2", second_in, first_out))
    await one  # finishes while 'two' still holds its token
    assert props["password"] == "tok-2"
    first_out.set()
    await two
    assert dict(props) == {"user": "app", "password": "own"}
    assert seen == {"one": ("app", "tok-2"), "two": ("app", "tok-2")}
    with lent_credentials(props, {"user": "db_user", "extra": "x"}):
        assert repr(props["user"]) == "'***'" and props["extra"] == "x"
        with pytest.raises(RuntimeError), lent_credentials(props, {"user": "nested"}):
            raise RuntimeError
        assert props["user"] == "db_user"
    assert dict(props) == {"user": "app", "password": "own"}


def test_forms_and_saml_inputs() -> None:
    page = (
        "<html><form action='/login?x=1&amp;y=2' method='POST'>"
        "<input name='UserName' type='email'><input name='Password' type='password'>"
        "<input type='hidden' name='AuthMethod' value='FormsAuthentication'><input type='submit' value='Go'>"
        "</form><form action='https://signin.aws.amazon.com/saml'>"
        "<input type='hidden' name='SAMLResponse' value='PHNhbWw&#x2b;abc&#x3d;&#x3d;'/></form></html>"
    )
    forms = parse_forms(page)
    assert forms[0].action == "/login?x=1&y=2" and forms[0].method == "post"
    assert [n for n, _, _ in forms[0].inputs] == ["UserName", "Password", "AuthMethod"]
    assert find_input(page, "SAMLResponse") == "PHNhbWw+abc=="
    assert find_input("<input name='SAMLResponse' value='x'>", "SAMLResponse") == "x"
    assert find_input(page, "Nope") is None


def test_region_from_arn() -> None:
    assert region_from_arn("arn:aws:secretsmanager:eu-west-3:123456789012:secret:db-AbCdEf") == "eu-west-3"
    assert region_from_arn("arn:aws-us-gov:secretsmanager:us-gov-west-1:1:secret:x") == "us-gov-west-1"
    assert region_from_arn("my/secret") is None
    assert "hunter2" not in repr(DbCredentials("u", "hunter2"))


@pytest.mark.parametrize(
    ("driver", "props", "ok"),
    [
        (PsycopgDriverDialect(), {}, True),
        (PsycopgDriverDialect(), {"sslmode": "require"}, True),
        (PsycopgDriverDialect(), {"sslmode": "disable"}, False),
        (PsycopgDriverDialect(), {"sslmode": "allow"}, False),
        (PsycopgDriverDialect(), {"sslmode": "disable", "iam_allow_without_tls": "true"}, True),
        (AiomysqlDriverDialect(), {}, False),
        (AiomysqlDriverDialect(), {"ssl": object()}, True),
        (AiomysqlDriverDialect(), {"iam_allow_without_tls": True}, True),
    ],
)
def test_tls_is_required_for_tokens(driver: Any, props: dict[str, Any], ok: bool) -> None:
    if ok:
        check_tls(driver, props, "iam")
    else:
        with pytest.raises(ConfigurationError, match="accepts it only over TLS"):
            check_tls(driver, props, "iam")


def test_psycopg_tls_check_reads_pgsslmode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGSSLMODE", "disable")
    with pytest.raises(ConfigurationError, match="sslmode=disable"):
        check_tls(PsycopgDriverDialect(), {}, "iam")


def test_idp_settings() -> None:
    base = {
        "idp_username": "u",
        "idp_password": "hunter2",
        "iam_role_arn": "arn:aws:iam::1:role/r",
        "iam_idp_arn": "arn:aws:iam::1:saml-provider/p",
    }
    assert SamlSettings.from_props({**base, "idp_endpoint": "adfs.example.com"}, "x").base_url == (
        "https://adfs.example.com:443"
    )
    settings = SamlSettings.from_props(
        {**base, "idp_endpoint": "https://idp.example.com:8443/", "idp_port": 1}, "x"
    )
    assert settings.base_url == "https://idp.example.com:8443" and settings.host == "idp.example.com"
    assert "hunter2" not in repr(settings)
    with pytest.raises(ConfigurationError, match="https:// URL"):
        SamlSettings.from_props({**base, "idp_endpoint": "http://idp.example.com"}, "x")


def test_plugins_import_and_validate_without_aioboto3_and_aiohttp() -> None:
    code = (
        "import sys\n"
        "for name in ('aioboto3', 'aiobotocore', 'aiohttp', 'botocore', 'boto3'):\n"
        "    sys.modules[name] = None  # makes `import name` fail\n"
        "import awsasyncwrap.aws\n"
        "from awsasyncwrap.plugins import iam, aws_secrets_manager, federated_auth, okta\n"
        "from awsasyncwrap.properties import known_properties\n"
        "names = {'iam_region', 'secrets_manager_secret_id', 'idp_endpoint', 'app_id'}\n"
        "assert names <= set(known_properties())\n"
        "from awsasyncwrap.aws import aws_session\n"
        "try:\n"
        "    aws_session()\n"
        "except Exception as exc:\n"
        "    assert 'pip install' in str(exc), exc\n"
        "else:\n"
        "    raise AssertionError('no error')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
