"""Which ``LISTEN`` / ``UNLISTEN`` a statement run through the proxy holds (pure functions).

The cursor checks :data:`MAYBE_LISTEN` against a statement's first character on every execute
(a set lookup); only the rare statements that pass get parsed.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MAYBE_LISTEN", "listen_changes"]

#: First characters of a statement that may be LISTEN / UNLISTEN (or blanks or a comment before it).
MAYBE_LISTEN = frozenset("LlUu \t\r\n-/")
_HEADS = frozenset({"LI", "UN"})
_LISTEN = re.compile(r'\s*(UN)?LISTEN\s+("(?:[^"]|"")+"|[^\s;]+)\s*;?\s*$', re.IGNORECASE)
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


def listen_changes(query: Any) -> list[tuple[bool, str]]:
    """``(listen, channel)`` of each LISTEN (True) / UNLISTEN (False) in ``query``; ``"*"``: every channel.

    ``query``: ``str``, ``bytes`` or psycopg ``sql.Composable``; a channel is named as the server
    sees it (an unquoted name folded to lower case).
    """
    if query.__class__ is str:
        if query[:2].upper() not in _HEADS and query[:1] in "LlUu":  # UPDATE, LOCK, USE ...
            return []
        text = query
    else:
        text = _leading_text(query)
        if not text:
            return []
    out = []
    for statement in _COMMENTS.sub(" ", text).split(";"):
        match = _LISTEN.match(statement)
        if match is not None:
            out.append((match.group(1) is None, _channel(match.group(2))))
    return out


def _leading_text(query: Any) -> str:
    """The SQL text of a non-``str`` ``query`` if it may hold LISTEN / UNLISTEN ("" when it cannot)."""
    if isinstance(query, bytes):
        return query.decode("utf-8", "replace")
    try:
        from psycopg import sql
    except ImportError:  # pragma: no cover - aiomysql only
        return ""
    head = query
    while isinstance(head, sql.Composed):  # only its first piece can start a LISTEN: look at that first
        head = next(iter(head), None)
    if not isinstance(head, sql.SQL):
        return ""
    start = head.as_string(None).lstrip()
    if start[:2].upper() not in _HEADS and not start.startswith(("--", "/*")):
        return ""
    try:
        return str(query.as_string(None))
    except Exception:  # a part that needs a connection to render: not a channel name
        return ""


def _channel(token: str) -> str:
    """The channel named by an identifier token: quoted as written, unquoted folded to lower case."""
    if token.startswith('"') and token.endswith('"') and len(token) >= 2:
        return token[1:-1].replace('""', '"')
    return token.lower()
