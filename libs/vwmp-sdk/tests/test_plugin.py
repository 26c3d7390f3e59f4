"""Declaring steps: schemas, config problems with pointers, sync/async handlers, checked outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, Field, field_validator
from vwmp_sdk import ConfigError, DeniedError, PlanItem, Plugin, StepContext, StepError, Template
from vwmp_sdk.testing import StepTester

plugin = Plugin("demo", title="Demo", description="Test steps")


class TagConfig(BaseModel):
    repo: str = Field(description="Repository path inside the workspace")
    name: str
    paths: list[str] = []

    @field_validator("name")
    @classmethod
    def no_dash(cls, value: str) -> str:
        if value.startswith("-"):
            raise ValueError("must not start with '-'")
        return value


class TagOutputs(BaseModel):
    name: str
    sha: str


@plugin.step("tag", title="Create tag", description="Annotated tag")
def tag(ctx: StepContext, config: TagConfig) -> TagOutputs:
    ctx.log(f"tagging {config.name}")
    if ctx.dry_run:
        return {"name": config.name, "sha": "0" * 40, "plan": [PlanItem(action="create tag", target=config.name)]}
    return TagOutputs(name=config.name, sha="abc")


@plugin.step("async-tag", outputs=TagOutputs)
async def async_tag(ctx: StepContext, config: TagConfig) -> dict:
    ctx.log("async")
    return {"name": config.name, "sha": f"attempt-{ctx.attempt}"}


@plugin.step("wrong-outputs")
def wrong_outputs(ctx: StepContext, config: TagConfig) -> TagOutputs:
    return {"name": config.name}  # type: ignore[return-value]  # the wrong shape on purpose


@plugin.step("bare")
def bare(ctx: StepContext) -> None:
    """Takes no config."""


@plugin.step("raises")
def raises(ctx: StepContext, config: TagConfig) -> None:
    errors = {"step": StepError("git failed"), "config": ConfigError("bad ref"), "denied": DeniedError("nope")}
    if config.name in errors:
        raise errors[config.name]
    raise KeyError(config.name)


plugin.add_template(
    Template(name="t", title="T", description="d", workflow_type="release", definition={"kind": "Workflow"})
)


@pytest.fixture
def tester(tmp_path: Path) -> StepTester:
    return StepTester(plugin, workspace_root=tmp_path)


def test_step_types_are_prefixed_with_the_plugin_name() -> None:
    assert sorted(d.type for d in plugin.steps.values()) == [
        "demo/async-tag", "demo/bare", "demo/raises", "demo/tag", "demo/wrong-outputs",
    ]
    definition = plugin.steps["tag"]
    assert (definition.title, definition.description) == ("Create tag", "Annotated tag")
    assert plugin.steps["bare"].description == "Takes no config."


def test_config_schema_keeps_field_descriptions() -> None:
    schema = plugin.steps["tag"].config_schema()
    assert schema["properties"]["repo"]["description"] == "Repository path inside the workspace"
    assert set(schema["required"]) == {"repo", "name"}


def test_outputs_schema_has_model_fields_and_optional_plan() -> None:
    schema = plugin.steps["tag"].outputs_schema()
    assert set(schema["properties"]) == {"name", "sha", "plan"}
    assert "plan" not in schema["required"]
    assert schema["properties"]["plan"]["items"]["required"] == ["action", "target"]
    assert plugin.steps["async-tag"].outputs_schema()["properties"].keys() == {"name", "sha", "plan"}
    assert plugin.steps["bare"].outputs_schema()["properties"].keys() == {"plan"}
    assert plugin.steps["bare"].config_schema()["type"] == "object"


def test_config_problems_carry_json_pointers(tester: StepTester) -> None:
    problems = tester.validate("demo/tag", {"name": "-x", "paths": ["ok", 3]})
    pointers = {p.pointer: p.message for p in problems}
    assert set(pointers) == {"/repo", "/name", "/paths/1"}
    assert "must not start with '-'" in pointers["/name"]
    assert tester.validate("demo/tag", {"repo": "r", "name": "v1"}) == []
    assert tester.validate("demo/tag", ["not", "an", "object"])[0].pointer == ""


def test_invalid_config_fails_with_kind_config(tester: StepTester) -> None:
    outcome = tester.run("demo/tag", {"repo": "r", "paths": [1]})
    assert outcome.failure is not None and outcome.failure.kind == "config"
    assert "/name: Field required" in outcome.failure.message
    assert "/paths/0" in outcome.failure.message


def test_sync_handler_outputs_and_logs(tester: StepTester) -> None:
    outcome = tester.run("demo/tag", {"repo": "r", "name": "v1"})
    assert outcome.ok, outcome.failure
    assert outcome.outputs == {"name": "v1", "sha": "abc"}
    assert outcome.logs == ["tagging v1"]


async def test_async_handler_sees_the_attempt(tester: StepTester) -> None:
    outcome = await tester.execute("demo/async-tag", {"repo": "r", "name": "v1"}, attempt=3)
    assert outcome.ok, outcome.failure
    assert outcome.outputs == {"name": "v1", "sha": "attempt-3"}


def test_dry_run_returns_the_plan(tester: StepTester) -> None:
    outcome = tester.run("demo/tag", {"repo": "r", "name": "v1"}, dry_run=True)
    assert outcome.plan == [{"action": "create tag", "target": "v1"}]


def test_outputs_not_matching_the_schema_fail_the_step(tester: StepTester) -> None:
    outcome = tester.run("demo/wrong-outputs", {"repo": "r", "name": "v1"})
    assert outcome.failure is not None and outcome.failure.kind == "error"
    assert "/sha" in outcome.failure.message


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        ("step", "error", "git failed"),
        ("config", "config", "bad ref"),
        ("denied", "denied", "nope"),
        ("other", "error", "KeyError: 'other'"),
    ],
)
def test_exceptions_map_to_failure_kinds(tester: StepTester, name: str, kind: str, message: str) -> None:
    outcome = tester.run("demo/raises", {"repo": "r", "name": name})
    assert outcome.failure is not None
    assert (outcome.failure.kind, outcome.failure.message) == (kind, message)


def test_unknown_step_type_is_a_lookup_error(tester: StepTester) -> None:
    with pytest.raises(LookupError, match="demo/tag"):
        tester.run("demo/nope", {})


def test_handler_without_model_annotation_is_rejected() -> None:
    other = Plugin("other")
    with pytest.raises(TypeError, match="pydantic model"):

        @other.step("x")
        def x(ctx: StepContext, config: dict) -> None: ...

    with pytest.raises(TypeError, match="pydantic model"):

        @other.step("y")
        def y(ctx: StepContext) -> int: ...


def test_duplicate_templates_and_bad_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="twice"):
        plugin.add_template(Template(name="t", workflow_type="release", definition={}))
    with pytest.raises(ValueError, match="invalid plugin name"):
        Plugin("a/b")


def test_a_plugin_and_its_steps_declare_icons_the_designer_shows_without_loading_anything() -> None:
    from vwmp_sdk import svg_icon

    icon = svg_icon('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><circle r="9" cx="12" cy="12"/></svg>')
    acme = Plugin("acme", icon=icon)

    @acme.step("tag")
    def tag(ctx) -> None: ...

    @acme.step("ship", icon="🚀")
    def ship(ctx) -> None: ...

    assert icon.startswith("data:image/svg+xml;base64,")
    assert acme.steps["tag"].icon == icon and acme.steps["ship"].icon == "🚀"
    for bad in ("https://example.com/i.svg", "javascript:alert(1)", "data:text/html,<script>", "AB",
                "data:image/png;base64," + "A" * 9000):
        with pytest.raises(ValueError, match="icon must be an emoji or a data:image"):
            Plugin("bad", icon=bad)
