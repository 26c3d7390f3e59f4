"""A JSON Schema check that answers "valid" fast and explains "invalid" exactly as before.

Python's jsonschema walks a 10,000-step definition in about 2.5 s on the development machine; the
Rust validator (jsonschema_rs) says whether it is valid in milliseconds. Only when it says invalid,
or cannot judge (a schema or a value it does not take), does the Python validator run, so every
message and JSON pointer is still jsonschema's. Python's validator stays the authority: its `re`
patterns accept at least what the Rust (ECMA-262) ones do for the schemas we publish, so a value the
Rust one refuses and the Python one accepts just costs the slow path.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from vwmp_common.schema_errors import SchemaProblem, schema_problems


class SchemaCheck:
    """One compiled schema, both ways."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.validator = Draft202012Validator(schema)
        try:
            self._fast: Any = jsonschema_rs.Draft202012Validator(schema, validate_formats=False)
        except Exception:  # a schema the Rust validator does not take: the Python one alone
            self._fast = None

    def _surely_valid(self, instance: Any) -> bool:
        """True when the Rust validator says valid; False when it says invalid or cannot judge."""
        if self._fast is None:
            return False
        try:
            return bool(self._fast.is_valid(instance))
        except Exception:  # a value it cannot convert (NaN, a huge integer): the Python one judges
            return False

    def problems(self, instance: Any, base: tuple[object, ...] = ()) -> list[SchemaProblem]:
        """Every problem of `instance`, in document order (none, fast, when it is valid)."""
        if self._surely_valid(instance):
            return []
        return schema_problems(self.validator, instance, base)
