"""One suite for both definition stores (SQL on SQLite and PostgreSQL, and YAML files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from vwmp_storage.definitions import DefinitionStore
from vwmp_storage.definitions_files import FileDefinitionStore
from vwmp_storage.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound


def test_create_starts_at_version_one_and_keeps_the_definition(definition_store: DefinitionStore) -> None:
    created = definition_store.create("release", '{"kind": "Workflow", "spec": {"steps": []}}', "alice")
    assert (created.name, created.version, created.created_by) == ("release", 1, "alice")
    got = definition_store.get("release")
    assert json.loads(got.definition_json) == {"kind": "Workflow", "spec": {"steps": []}}
    assert got.created_at.tzinfo is not None
    assert got.created_by == "alice"


def test_create_twice_is_already_exists(definition_store: DefinitionStore, sample_definition: str) -> None:
    definition_store.create("release", sample_definition, "alice")
    with pytest.raises(AlreadyExists, match="'release' already exists"):
        definition_store.create("release", sample_definition, "bob")


def test_versions_are_immutable_and_increase(definition_store: DefinitionStore) -> None:
    definition_store.create("wf", '{"v": 1}', "alice")
    assert definition_store.put("wf", '{"v": 2}', "bob", 0).version == 2
    assert definition_store.put("wf", '{"v": 3}', "carol", 2).version == 3
    assert json.loads(definition_store.get("wf", 1).definition_json) == {"v": 1}
    assert json.loads(definition_store.get("wf", 2).definition_json) == {"v": 2}
    assert json.loads(definition_store.get("wf").definition_json) == {"v": 3}
    history = definition_store.versions("wf")
    assert [(w.version, w.created_by) for w in history] == [(1, "alice"), (2, "bob"), (3, "carol")]


def test_stale_expected_version_is_refused_naming_the_latest(definition_store: DefinitionStore) -> None:
    definition_store.create("wf", '{"v": 1}', "alice")
    definition_store.put("wf", '{"v": 2}', "bob", 1)
    with pytest.raises(FailedPrecondition, match="at version 2, not 1"):
        definition_store.put("wf", '{"v": 3}', "carol", 1)
    assert definition_store.get("wf").version == 2


def test_put_unknown_workflow_is_not_found(definition_store: DefinitionStore) -> None:
    with pytest.raises(NotFound, match="'ghost' not found"):
        definition_store.put("ghost", '{"v": 1}', "alice", 0)


def test_get_missing_version_names_the_latest(definition_store: DefinitionStore) -> None:
    definition_store.create("wf", '{"v": 1}', "alice")
    with pytest.raises(NotFound, match="no version 7 \\(latest is 1\\)"):
        definition_store.get("wf", 7)
    with pytest.raises(NotFound):
        definition_store.get("nothing")
    with pytest.raises(NotFound):
        definition_store.versions("nothing")


def test_archive_hides_from_list_but_keeps_versions(definition_store: DefinitionStore) -> None:
    definition_store.create("keep", '{"v": 1}', "alice")
    definition_store.create("old", '{"v": 1}', "alice")
    definition_store.put("old", '{"v": 2}', "alice", 1)
    archived = definition_store.archive("old", "admin")
    assert archived.archived and archived.version == 2
    assert [w.name for w in definition_store.list()] == ["keep"]
    everything = definition_store.list(include_archived=True)
    assert [(w.name, w.version, w.archived) for w in everything] == [("keep", 1, False), ("old", 2, True)]
    assert len(definition_store.versions("old")) == 2
    assert definition_store.get("old", 1).archived
    with pytest.raises(AlreadyExists, match="archived"):
        definition_store.create("old", '{"v": 9}', "alice")


def test_saving_an_archived_workflow_restores_it(definition_store: DefinitionStore) -> None:
    definition_store.create("wf", '{"v": 1}', "alice")
    definition_store.archive("wf", "admin")
    definition_store.archive("wf", "admin")
    restored = definition_store.put("wf", '{"v": 2}', "alice", 1)
    assert restored.version == 2 and not restored.archived
    assert [w.name for w in definition_store.list()] == ["wf"]


def test_archive_unknown_is_not_found(definition_store: DefinitionStore) -> None:
    with pytest.raises(NotFound):
        definition_store.archive("ghost", "admin")


def test_list_returns_the_latest_version_of_each_by_name(definition_store: DefinitionStore) -> None:
    definition_store.create("b-flow", '{"v": 1}', "alice")
    definition_store.create("a-flow", '{"v": 1}', "alice")
    definition_store.put("b-flow", '{"v": 2}', "alice", 0)
    assert [(w.name, w.version) for w in definition_store.list()] == [("a-flow", 1), ("b-flow", 2)]


@pytest.mark.parametrize(
    "name",
    ["../x", "..", ".", "-rf", "a/b", "a\\b", "Release", "", " x", "x y", "a" * 64, "a" * 5000, "x\x00y", "é"],
)
def test_hostile_names_are_invalid_argument_naming_the_field(definition_store: DefinitionStore, name: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^name: "):
        definition_store.create(name, '{"v": 1}', "alice")
    with pytest.raises(InvalidArgument, match=r"^name: "):
        definition_store.get(name)
    with pytest.raises(InvalidArgument, match=r"^name: "):
        definition_store.put(name, '{"v": 1}', "alice", 0)


def test_longest_valid_name_is_accepted(definition_store: DefinitionStore) -> None:
    name = "a" + "b.c_d-" * 10 + "e"
    assert definition_store.create(name, '{"v": 1}', "alice").name == name


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "definition_json: required"), ("[1]", "must be a JSON object"), ("{oops", "not valid JSON")],
)
def test_bad_definition_is_invalid_argument(definition_store: DefinitionStore, text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        definition_store.create("wf", text, "alice")


def test_unicode_and_nested_values_round_trip(definition_store: DefinitionStore) -> None:
    document = {"name": "Déploiement ✓", "n": [1, 2.5, True, None, "2024-01-01", "yes"], "deep": {"x": {"y": []}}}
    definition_store.create("wf", json.dumps(document), "zoë")
    got = definition_store.get("wf")
    assert json.loads(got.definition_json) == document
    assert got.created_by == "zoë"


def test_file_store_writes_one_readable_yaml_file_per_version(tmp_path: Path, sample_definition: str) -> None:
    store = FileDefinitionStore(tmp_path)
    store.create("release", sample_definition, "alice")
    store.put("release", sample_definition.replace("core/noop", "core/sleep"), "bob", 1)
    store.archive("release", "admin")
    files = sorted(p.name for p in (tmp_path / "release").iterdir())
    assert files == ["ARCHIVED", "v0001.yaml", "v0002.yaml"]
    text = (tmp_path / "release" / "v0002.yaml").read_text()
    assert text.startswith("# vwmp: ")
    assert "uses: core/sleep" in text
    assert yaml.safe_load(text) == json.loads(sample_definition.replace("core/noop", "core/sleep"))
    assert yaml.safe_load((tmp_path / "release" / "ARCHIVED").read_text())["archived_by"] == "admin"


def test_file_store_reads_hand_written_files(tmp_path: Path) -> None:
    (tmp_path / "handmade").mkdir()
    (tmp_path / "handmade" / "v0001.yaml").write_text("kind: Workflow\nreleased: 2024-05-01\n")
    (tmp_path / "not a workflow").mkdir()
    store = FileDefinitionStore(tmp_path)
    got = store.get("handmade")
    assert json.loads(got.definition_json) == {"kind": "Workflow", "released": "2024-05-01"}
    assert got.created_by == "" and got.created_at.tzinfo is not None
    assert [w.name for w in store.list()] == ["handmade"]
