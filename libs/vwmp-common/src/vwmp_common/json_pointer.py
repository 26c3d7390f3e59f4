"""RFC 6901 JSON pointers: how every VWMP error says which field is at fault (`/spec/steps/0/with`)."""

from __future__ import annotations


def escape(token: object) -> str:
    """One reference token: `~` becomes `~0` and `/` becomes `~1` (in that order, as RFC 6901 says)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    """The key a reference token stands for (`~1` before `~0`, the reverse of `escape`)."""
    return token.replace("~1", "/").replace("~0", "~")


def pointer(*tokens: object) -> str:
    """The pointer of a path of keys and indexes; no tokens point at the whole document ('')."""
    return "".join("/" + escape(token) for token in tokens)


def tokens(text: str) -> list[str]:
    """The unescaped keys of a pointer ('' gives none); ValueError when it does not start with '/'."""
    if not text:
        return []
    if not text.startswith("/"):
        raise ValueError(f"{text!r} is not a JSON pointer: it must be empty or start with '/'")
    return [unescape(token) for token in text[1:].split("/")]
