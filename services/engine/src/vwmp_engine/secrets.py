"""The `secrets` reference kind: values the operator provides, never shown anywhere.

`${{ secrets.NAME }}` resolves from the environment variable `VWMP_SECRET_NAME`
or the file `$VWMP_SECRETS_DIR/NAME`. Every value is scrubbed (by
`vwmp_common.redaction.Redactor`) from log lines, outputs, errors and plans before they are stored
or published.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from vwmp_engine import expressions

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class SecretStore:
    """Reads secrets by name from the environment and a folder."""

    def __init__(self, folder: Path | None = None, environ: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.environ = os.environ if environ is None else environ

    def get(self, name: str) -> str | None:
        if not _NAME.match(name):
            return None
        value = self.environ.get(f"VWMP_SECRET_{name}")
        if value is None and self.folder is not None:
            path = self.folder / name
            if path.is_file():
                value = path.read_text().rstrip("\n")
        return value

    def lookup_table(self, names: set[str]) -> dict[str, str]:
        return {name: value for name in names if (value := self.get(name)) is not None}

    @staticmethod
    def referenced(definition: dict[str, Any]) -> set[str]:
        """Names of every secret a definition refers to."""
        names: set[str] = set()
        for text in _strings(definition.get("spec", {})):
            for source in expressions.expressions_in(text) or ([text] if "secrets." in text else []):
                try:
                    tree = expressions.parse(expressions.condition_expression(source))
                except expressions.ExpressionError:
                    continue
                names.update(ref.path[1] for ref in expressions.references(tree)
                             if ref.path[0] == "secrets" and len(ref.path) > 1)
        return names


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    return []
