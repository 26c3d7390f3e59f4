"""JSON Schema errors point at the field at fault, with the nearest reason."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from vwmp_common.schema_errors import SchemaProblem, schema_problems

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "labels": {"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}},
        "when": {"oneOf": [{"type": "string"}, {"type": "object", "required": ["at"]}]},
        "items": {"type": "array", "items": {"type": "integer"}},
    },
}
VALIDATOR = Draft202012Validator(SCHEMA)


def _found(instance: Any, base: tuple[object, ...] = ()) -> dict[str, str]:
    return {p.pointer: p.message for p in schema_problems(VALIDATOR, instance, base)}


def test_a_missing_field_points_at_the_field_not_at_its_object() -> None:
    assert _found({}) == {"/name": "name is required"}


def test_each_unknown_field_gets_its_own_pointer() -> None:
    assert _found({"name": "x", "colour": "blue", "a/b": 1}) == {
        "/a~1b": "unknown field 'a/b'",
        "/colour": "unknown field 'colour'",
    }


def test_a_bad_key_points_at_the_key() -> None:
    found = _found({"name": "x", "labels": {"Bad Key": "v"}})
    assert list(found) == ["/labels/Bad Key"]
    assert found["/labels/Bad Key"].startswith("bad key: ")


def test_one_of_reports_the_nearest_alternative_instead_of_not_valid_under_any() -> None:
    found = _found({"name": "x", "when": 3})
    assert "is not valid under any of the given schemas" not in found["/when"]


def test_problems_are_in_document_order_and_prefixed_with_the_base() -> None:
    problems = schema_problems(VALIDATOR, {"name": "", "items": [1, "two", 3.5]}, ("spec", "with"))
    assert [p.pointer for p in problems] == ["/spec/with/items/1", "/spec/with/items/2", "/spec/with/name"]
    assert str(problems[0]) == f"/spec/with/items/1: {problems[0].message}"
    assert schema_problems(VALIDATOR, {"name": "ok"}) == []
    assert SchemaProblem("", "whole") == SchemaProblem("", "whole")


def test_null_and_booleans_are_named_as_yaml_and_json_write_them() -> None:
    # An empty `labels:` in YAML is null: the author never wrote Python's None.
    assert _found({"name": "x", "labels": None}) == {"/labels": "null is not of type 'object'"}
    assert _found({"name": True}) == {"/name": "true is not of type 'string'"}
    assert _found({"name": "x", "items": [False]}) == {"/items/0": "false is not of type 'integer'"}
