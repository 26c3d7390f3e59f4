"""JSON text as the wire carries it: parsed with errors that name the field."""

from __future__ import annotations

import json
from typing import Any

from vwmp_storage.errors import InvalidArgument


def parse_object(text: str, field: str) -> dict[str, Any]:
    """Parse a JSON object ('' means {}); INVALID_ARGUMENT naming `field` otherwise."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"{field}: not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{field}: must be a JSON object, got {type(value).__name__}")
    return value


def dump(value: Any) -> str:
    """Compact JSON text that keeps non-ASCII characters readable."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def normalise_object(text: str, field: str) -> str:
    """Validate a JSON object and return it as compact text ("{}" when empty)."""
    return dump(parse_object(text, field))
