"""Secrets, passwords, tokens and SAML assertions never reach logs, reprs or errors.

Every log record of every logger is captured at DEBUG (the AWS SDK's own too: botocore prints
request parameters, response bodies and signatures at DEBUG) across successful and failing
connects of all four plugins, then searched for every secret value the test knows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import traceback
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from awsasyncwrap.aws import aws_session, secret_cache, token_cache
from awsasyncwrap.plugins.federated_auth import federated_auth_token
from awsasyncwrap.plugins.iam import iam_auth_token
from awsasyncwrap.plugins.okta import okta_auth_token
from fix_moto import MotoServer

from .conftest import DbLogins, new_password, unique
from .fake_idp import FakeIdp
from .helpers import connect, whoami
from .test_federated import USER, fed_props
from .test_iam import iam_props
from .test_secrets_manager import create_secret, rotate, sm_props

pytestmark = pytest.mark.timeout(90)


@contextlib.contextmanager
def unlogged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The test's own setup (creating secrets and users: secrets in the request) is not what is searched."""
    caplog.set_level(logging.WARNING)
    try:
        yield
    finally:
        caplog.set_level(logging.DEBUG)


class Run:
    """Connects, keeping every error and repr for the search."""

    def __init__(self, db: DbLogins) -> None:
        self.db = db
        self.errors: list[BaseException] = []
        self.reprs: list[str] = []
        self.ok = 0

    async def attempt(self, plugin: str, props: dict[str, Any]) -> None:
        try:
            conn = await connect(self.db, plugin, **props)
        except Exception as exc:
            self.errors.append(exc)
            return
        try:
            await whoami(conn)
            props_seen = conn.plugin_service.props
            self.reprs += [repr(conn), repr(props_seen), str(props_seen), repr(conn.plugin_service.hosts)]
            self.ok += 1
        finally:
            await conn.close()


async def test_nothing_secret_is_logged_or_shown(
    moto_server: MotoServer, fake_idp: FakeIdp, db: DbLogins, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    watched: dict[str, str] = {}
    sts_secrets: list[str] = []

    def keep_sts_credentials(parsed: dict[str, Any], **_: Any) -> None:
        creds = parsed.get("Credentials") or {}
        sts_secrets.extend([creds.get("SecretAccessKey", ""), creds.get("SessionToken", "")])

    aws_session().events.register("after-call.sts.AssumeRoleWithSAML", keep_sts_credentials)
    run = Run(db)

    # --- Secrets Manager: success, rotation (refused + retried), malformed secrets holding a password
    user, old, new = unique("leak_sm"), new_password(), new_password()
    watched |= {"secret password": old, "rotated secret password": new}
    with unlogged(caplog):
        await db.create(user, old)
        arn = await create_secret(moto_server, {"username": user, "password": old})
    await run.attempt("aws_secrets_manager", sm_props(moto_server, arn))
    with unlogged(caplog):
        await rotate(moto_server, arn, {"username": user, "password": new})
        await db.set_password(user, new)
    await run.attempt("aws_secrets_manager", sm_props(moto_server, arn))
    for broken in (
        '{"username": "u", "password": "' + (bad := new_password()),
        {"username": "u", "pwd": bad},
    ):
        watched[f"password in a malformed secret {len(watched)}"] = bad
        with unlogged(caplog):
            arn = await create_secret(moto_server, broken)
        await run.attempt("aws_secrets_manager", sm_props(moto_server, arn))
    wrong = new_password()
    watched["password refused by the server"] = wrong
    with unlogged(caplog):
        arn = await create_secret(moto_server, json.dumps({"username": user, "password": wrong}))
    await run.attempt("aws_secrets_manager", sm_props(moto_server, arn))

    # --- IAM: accepted token, then a refused one
    iam_user = unique("leak_iam")
    props = iam_props(db, iam_user)
    watched["iam token"] = token = await iam_auth_token(props)
    with unlogged(caplog):
        await db.create(iam_user, token)
    await run.attempt("iam", props)
    refused = iam_props(db, iam_user, iam_region="us-west-1")
    watched["refused iam token"] = await iam_auth_token(refused)
    token_cache.clear()
    await run.attempt("iam", refused)

    # --- federated (ADFS) and Okta: accepted tokens, then a wrong IdP password
    for plugin, token_func in (("federated_auth", federated_auth_token), ("okta", okta_auth_token)):
        fed_user = unique(f"leak_{plugin[:4]}")
        props = fed_props(db, fake_idp, moto_server, plugin, fed_user)
        watched[f"{plugin} token"] = token = await token_func(props)
        with unlogged(caplog):
            await db.create(fed_user, token)
        await run.attempt(plugin, props)
        watched[f"{plugin} wrong idp password"] = bad_idp = new_password()
        await run.attempt(plugin, {**props, "idp_password": bad_idp, "db_user": unique("other")})
    watched["idp password"] = fake_idp.users[USER]

    assert run.ok == 5 and len(run.errors) == 6, run.errors
    assert fake_idp.assertions and len(sts_secrets) == 4
    for i, assertion in enumerate(fake_idp.assertions):
        watched[f"SAML assertion {i}"] = assertion
    for i, value in enumerate(sts_secrets):
        watched[f"STS credential {i}"] = value
    for label, value in list(watched.items()):
        if "X-Amz-Signature=" in value:
            watched[f"{label} signature"] = value.split("X-Amz-Signature=")[1]

    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts = [formatter.format(record) for record in caplog.records]
    texts += ["".join(traceback.format_exception(exc)) + repr(exc) for exc in run.errors]
    texts += [*run.reprs, repr(token_cache), repr(secret_cache)]
    haystack = "\n".join(texts)
    for label, value in watched.items():
        assert len(value) >= 16, label
        for form in {value, quote(value, safe=""), quote_plus(value)}:
            assert form not in haystack, f"{label} leaked"
    loggers = {record.name.split(".")[0] for record in caplog.records}
    assert {"awsasyncwrap", "botocore"} <= loggers  # the SDK's DEBUG records were searched too
