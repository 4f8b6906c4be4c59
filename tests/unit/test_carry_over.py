"""Which statements the carry-over takes for LISTEN / UNLISTEN, and the cheap pre-check the cursor makes."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg import sql

from awsasyncwrap._carry_over import CarryOver
from awsasyncwrap._listen import MAYBE_LISTEN
from awsasyncwrap.drivers import PsycopgDriverDialect


class _Conn:
    """Any weak-referenceable object stands for a driver connection here."""


def _channels(*statements: Any) -> frozenset[str]:
    carry = CarryOver(PsycopgDriverDialect())
    conn = _Conn()
    for query in statements:
        if query.__class__ is not str or (query and query[0] in MAYBE_LISTEN):  # what the cursor checks
            carry.note_statement(conn, query)
    return carry.channels


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (["LISTEN a"], {"a"}),
        (["listen Mixed_Case"], {"mixed_case"}),
        (['LISTEN "Quoted ""x"""'], {'Quoted "x"'}),
        (["  -- note\n  LISTEN a;", "/* c */ LISTEN b"], {"a", "b"}),
        (["LISTEN a; LISTEN b; UNLISTEN a"], {"b"}),
        (["LISTEN a", "LISTEN b", "UNLISTEN *"], set()),
        ([sql.SQL("LISTEN {}").format(sql.Identifier("Chan B"))], {"Chan B"}),
        ([b"LISTEN raw"], {"raw"}),
        (["UPDATE t SET listen = 1", "SELECT 'LISTEN x'", "LOCK t", "USE db"], set()),
        ([sql.SQL("SELECT {}").format(sql.Literal("LISTEN x"))], set()),
        (["LISTEN a", "SELECT 1; LISTEN b"], {"a"}),  # only statements that start with LISTEN / UNLISTEN
    ],
)
def test_listen_statements(statements: list[Any], expected: set[str]) -> None:
    assert _channels(*statements) == expected


def test_plain_statements_skip_the_slow_path() -> None:
    for query in ("SELECT 1", "INSERT INTO t VALUES (1)", "DELETE FROM t", "WITH x AS (SELECT 1) SELECT 1"):
        assert not (query.__class__ is not str or (query and query[0] in MAYBE_LISTEN))
