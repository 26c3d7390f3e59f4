"""JSON Schema errors explained as `{pointer, message}` pairs that point at the field at fault.

jsonschema reports a missing or an unknown field at the object that holds it, and a `oneOf` failure as
"is not valid under any of the given schemas"; an editor needs the field itself and the nearest reason.
The engine (workflow definitions, step configs, run parameters), storage (the platform configuration)
and the gateway's fake engine all explain errors this one way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vwmp_common.json_pointer import pointer

if TYPE_CHECKING:  # only the types: vwmp-common does not depend on jsonschema at run time
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    """One schema violation: where (an RFC 6901 pointer) and what."""

    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer}: {self.message}"


def explain(error: ValidationError, base: Iterable[object] = ()) -> Iterator[SchemaProblem]:
    """The problems one error stands for, their pointers prefixed with `base` (where the instance sits)."""
    path = (*base, *error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        yield SchemaProblem(pointer(*path, missing), f"{missing} is required")
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        for extra in sorted(key for key in error.instance if key not in known):
            yield SchemaProblem(pointer(*path, extra), f"unknown field {extra!r}")
    elif "propertyNames" in error.schema_path and isinstance(error.instance, str):
        yield SchemaProblem(pointer(*path, error.instance), f"bad key: {error.message}")
    elif error.validator == "type" and (error.instance is None or isinstance(error.instance, bool)):
        # jsonschema shows the value as Python does (None, True); the author wrote YAML or JSON (null, true)
        said = error.message.removeprefix(repr(error.instance))
        yield SchemaProblem(pointer(*path), json.dumps(error.instance) + said)
    elif error.validator in ("oneOf", "anyOf") and error.context:
        best = min(error.context, key=lambda e: len(e.message))
        yield SchemaProblem(pointer(*path), best.message)
    else:
        yield SchemaProblem(pointer(*path), error.message)


def schema_problems(validator: Validator, instance: Any, base: Iterable[object] = ()) -> list[SchemaProblem]:
    """Every problem of `instance` under `validator`, in document order."""
    prefix = tuple(base)
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(part) for part in e.absolute_path])
    return [problem for error in errors for problem in explain(error, prefix)]
