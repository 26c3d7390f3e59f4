"""The platform configuration: schema-validated, versioned, with built-in defaults."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator
from vwmp_storage.errors import FailedPrecondition, InvalidArgument
from vwmp_storage.platform_config import BUILT_IN_DEFAULTS, config_problems, config_schema
from vwmp_storage.storage import Storage


def test_built_in_defaults_are_version_zero(storage: Storage) -> None:
    current = storage.config.get()
    assert current.version == 0 and current.updated_at is None
    assert json.loads(current.document_json) == {
        "release": {"allowed_branches": ["main", "release/*"]},
        "step_defaults": {},
    }


def test_put_saves_versions_and_fills_left_out_sections(storage: Storage) -> None:
    first = storage.config.put('{"git": {"author_name": "Bot", "author_email": "bot@example.com"}}', "admin")
    assert first.version == 1
    document = json.loads(storage.config.get().document_json)
    assert document["git"]["author_name"] == "Bot"
    assert document["release"] == BUILT_IN_DEFAULTS["release"]
    second = storage.config.put(
        json.dumps({**document, "step_defaults": {"git/push": {"remote": "upstream"}}}), "admin", expected_version=1
    )
    assert second.version == 2 and storage.config.get().updated_by == "admin"


def test_stale_expected_version_is_refused(storage: Storage) -> None:
    storage.config.put("{}", "admin")
    storage.config.put("{}", "admin", expected_version=1)
    with pytest.raises(FailedPrecondition, match="at version 2, not 1"):
        storage.config.put("{}", "admin", expected_version=1)


def test_invalid_document_lists_each_problem_with_its_pointer(storage: Storage) -> None:
    bad = {
        "colour": "blue",
        "git": {"author_name": "", "author_email": "nobody"},
        "release": {"allowed_branches": ["main", 7]},
        "step_defaults": {"git/push": "origin", "Not A Type": {}},
    }
    with pytest.raises(InvalidArgument) as raised:
        storage.config.put(json.dumps(bad), "admin")
    lines = str(raised.value).splitlines()
    assert lines[0] == "configuration is not valid:"
    pointers = [line.split(": ", 1)[0] for line in lines[1:]]
    assert pointers == [
        "/colour",
        "/git/author_email",
        "/git/author_name",
        "/release/allowed_branches/1",
        "/step_defaults/Not A Type",
        "/step_defaults/git~1push",
    ]
    assert storage.config.get().version == 0


@pytest.mark.parametrize(("text", "message"), [("", "required"), ("[]", "JSON object"), ("{", "not valid JSON")])
def test_unparseable_document_is_invalid_argument(storage: Storage, text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        storage.config.put(text, "admin")


def test_schema_is_draft_2020_12_and_accepts_the_defaults() -> None:
    schema = config_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert config_problems(BUILT_IN_DEFAULTS) == []
    assert schema["additionalProperties"] is False
