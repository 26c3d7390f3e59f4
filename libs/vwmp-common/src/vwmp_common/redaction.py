"""Masking secret values: the engine before it stores or publishes anything, plugin hosts before
anything leaves them or reaches their own log."""

from __future__ import annotations

from typing import Any

MASK = "***"


class Redactor:
    """Replaces secret values with *** in any text or JSON value."""

    def __init__(self, values: list[str]) -> None:
        self.values = sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def scrub_value(self, value: Any) -> Any:
        if not self.values:
            return value
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, list):
            return [self.scrub_value(item) for item in value]
        if isinstance(value, dict):
            return {key: self.scrub_value(item) for key, item in value.items()}
        return value
