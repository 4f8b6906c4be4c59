"""Take the wrapper's own keys out of a libpq connection string; libpq parses the rest.

libpq rejects keys it does not know, so wrapper properties such as
``plugins=failover`` written in a connection string are cut out here (from the
``key=value`` list, or from the query of a ``postgresql://`` URI) and the rest
of the string is left to libpq untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

__all__ = ["split_conninfo"]

_URI_PREFIXES = ("postgresql://", "postgres://")


def split_conninfo(conninfo: str, is_libpq_key: Callable[[str], bool]) -> tuple[str, dict[str, str]]:
    """``(libpq part, {other key: value})`` of ``conninfo``; the libpq part is text for libpq to parse."""
    text = conninfo.strip()
    if text.startswith(_URI_PREFIXES):
        return _split_uri(text, is_libpq_key)
    return _split_key_values(text, is_libpq_key)


def _split_uri(uri: str, is_libpq_key: Callable[[str], bool]) -> tuple[str, dict[str, str]]:
    base, sep, query = uri.partition("?")
    if not sep:
        return uri, {}
    kept: list[str] = []
    other: dict[str, str] = {}
    for item in query.split("&"):
        if not item:
            continue
        pairs = parse_qsl(item, keep_blank_values=True)
        key = pairs[0][0] if pairs else item
        if is_libpq_key(key):
            kept.append(item)
        else:
            other[key] = pairs[0][1] if pairs else ""
    return (f"{base}?{'&'.join(kept)}" if kept else base), other


def _split_key_values(text: str, is_libpq_key: Callable[[str], bool]) -> tuple[str, dict[str, str]]:
    """Cut the non-libpq ``key=value`` items out of ``text`` (libpq's tokenizing rules)."""
    kept: list[str] = []
    other: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        while i < n and text[i] != "=" and not text[i].isspace():
            i += 1
        key = text[start:i]
        while i < n and text[i].isspace():
            i += 1
        if i >= n or text[i] != "=" or not key:
            kept.append(text[start:])  # malformed: let libpq report it in its own words
            break
        i += 1
        while i < n and text[i].isspace():
            i += 1
        value, i = _value(text, i)
        if value is None:
            kept.append(text[start:])
            break
        if is_libpq_key(key):
            kept.append(text[start:i])
        else:
            other[key] = value
    return " ".join(kept), other


def _value(text: str, i: int) -> tuple[str | None, int]:
    """The value starting at ``text[i]`` (quoted or bare, backslash escapes) and where it ends."""
    n = len(text)
    chars: list[str] = []
    if i < n and text[i] == "'":
        i += 1
        while i < n and text[i] != "'":
            if text[i] == "\\" and i + 1 < n:
                i += 1
            chars.append(text[i])
            i += 1
        if i >= n:
            return None, n  # unterminated quote
        return "".join(chars), i + 1
    while i < n and not text[i].isspace():
        if text[i] == "\\" and i + 1 < n:
            i += 1
        chars.append(text[i])
        i += 1
    return "".join(chars), i
