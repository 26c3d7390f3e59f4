"""Declaring a plugin: step types (handler + config/outputs models) and workflow templates."""

from __future__ import annotations

import copy
import inspect
import json
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import pydantic
from pydantic import BaseModel
from vwmp_common.icons import check_icon
from vwmp_common.json_pointer import pointer

from vwmp_sdk._errors import ConfigError, ConfigProblem, StepError

Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)
Effects = Literal["local", "remote", "none"]
EFFECTS: tuple[Effects, ...] = ("local", "remote", "none")
ModelClass = type[BaseModel]
"""A pydantic model class (an alias, since `StepDefinition.type` shadows the builtin in its body)."""


class PlanItem(BaseModel):
    """One change a step would make; a dry run returns a list of them as `outputs.plan`.

    Attributes:
        action: what would happen, e.g. `"create tag"`, `"write file"`.
        target: what it happens to, e.g. `"v1.2.0"`, `"CHANGELOG.md"`.
        diff: optional unified diff or preview text.
    """

    action: str
    target: str
    diff: str | None = None


class Template(BaseModel):
    """A ready-made workflow definition a workflow-type plugin offers (shown in the designer).

    Attributes:
        name: unique template name, e.g. `"python-release"`.
        workflow_type: the workflow type it belongs to, e.g. `"release"`.
        definition: the workflow definition document (apiVersion, kind, metadata, spec).
        title: short human title.
        description: one or two sentences.
    """

    name: str
    workflow_type: str
    definition: dict[str, Any]
    title: str = ""
    description: str = ""


PLAN_SCHEMA: dict[str, Any] = {
    "type": "array",
    "title": "Plan",
    "description": "What a dry run would do, one item per change",
    "items": {
        "type": "object",
        "required": ["action", "target"],
        "properties": {
            "action": {"type": "string"},
            "target": {"type": "string"},
            "diff": {"type": "string"},
        },
    },
}
_PLANS = pydantic.TypeAdapter(list[PlanItem])


def problems_of(error: pydantic.ValidationError) -> list[ConfigProblem]:
    """Pydantic errors as pointer + message pairs; a plugin's own validator speaks in its own words
    (its `ValueError` message, without pydantic's "Value error, " prefix)."""
    return [ConfigProblem(pointer(*e["loc"]), _message(e)) for e in error.errors()]


def _message(error: Any) -> str:
    raised = error.get("ctx", {}).get("error") if error["type"] == "value_error" else None
    return str(raised) if isinstance(raised, ValueError) and str(raised) else str(error["msg"])


def describe_problems(problems: list[ConfigProblem]) -> str:
    """One line naming every problem, pointer first."""
    return "; ".join(f"{p.pointer or '/'}: {p.message}" for p in problems)


@dataclass
class StepDefinition:
    """A registered step type: its handler, config model and outputs model.

    Attributes:
        type: `"<plugin>/<name>"`.
        plugin: the plugin name.
        name: the step name within the plugin.
        title: short human title.
        description: what the step does.
        handler: the function `(ctx[, config]) -> outputs`, sync or async.
        config_model: pydantic model of the config, or None when the step takes no config.
        outputs_model: pydantic model of the outputs, or None when they are free-form.
        effects: `"local"`, `"remote"` or `"none"` (see `Plugin.step`).
    """

    type: str
    plugin: str
    name: str
    title: str
    description: str
    handler: Handler
    config_model: ModelClass | None
    outputs_model: ModelClass | None
    icon: str = ""
    effects: Effects = "remote"
    is_async: bool = field(init=False)

    def __post_init__(self) -> None:
        self.is_async = inspect.iscoroutinefunction(self.handler)

    def config_schema(self) -> dict[str, Any]:
        """JSON Schema of the config (`with:`)."""
        if self.config_model is None:
            return {"type": "object", "title": self.title or self.type, "properties": {}, "additionalProperties": False}
        return self.config_model.model_json_schema()

    def outputs_schema(self) -> dict[str, Any]:
        """JSON Schema of the outputs, always with the optional `plan` property."""
        if self.outputs_model is None:
            schema: dict[str, Any] = {"type": "object", "properties": {}}
        else:
            schema = copy.deepcopy(self.outputs_model.model_json_schema())
            schema.setdefault("properties", {})
        schema["properties"]["plan"] = copy.deepcopy(PLAN_SCHEMA)
        if "plan" in schema.get("required", []):
            schema["required"] = [r for r in schema["required"] if r != "plan"]
        return schema

    def check_config(self, config: Any) -> list[ConfigProblem]:
        """Problems of a config (empty when valid), pointers relative to the config."""
        try:
            self.parse_config(config)
        except ConfigError as exc:
            return exc.problems or [ConfigProblem("", exc.message)]
        return []

    def parse_config(self, config: Any) -> BaseModel | None:
        """Validate a config dict into the config model.

        Raises:
            ConfigError: with `.problems` listing each pointer and message.
        """
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise _config_error([ConfigProblem("", "config must be a JSON object")])
        if self.config_model is None:
            return None
        try:
            return self.config_model.model_validate(config)
        except pydantic.ValidationError as exc:
            raise _config_error(problems_of(exc)) from None

    def dump_outputs(self, value: Any, planned: Sequence[PlanItem] | None = None) -> dict[str, Any]:
        """Turn a handler's return value into outputs JSON, checked against the outputs schema.

        Args:
            value: what the handler returned (a model, a dict or None).
            planned: in a dry run, the items the handler recorded with `StepContext.plan`; they
                follow any `plan` the handler returned, and `plan` is always present (empty when
                nothing would change). None outside a dry run.

        Raises:
            StepError: the value does not match the outputs schema (a bug in the handler).
        """
        if value is None:
            data: dict[str, Any] = {}
        elif isinstance(value, BaseModel):
            data = value.model_dump(mode="json")
        elif isinstance(value, dict):
            data = dict(value)
        else:
            raise StepError(f"{self.type} returned {type(value).__name__}; return a pydantic model or a dict")
        plan = data.pop("plan", None)
        if self.outputs_model is not None:
            try:
                checked = self.outputs_model.model_validate(data)
            except pydantic.ValidationError as exc:
                problems = describe_problems(problems_of(exc))
                raise StepError(f"outputs of {self.type} do not match its schema: {problems}") from None
            data = {**data, **checked.model_dump(mode="json")}
            data.pop("plan", None)
        if plan is not None or planned is not None:
            try:
                items = _PLANS.validate_python(plan or [])
            except pydantic.ValidationError as exc:
                wrong = [ConfigProblem("/plan" + p.pointer, p.message) for p in problems_of(exc)]
                raise StepError(f"plan of {self.type} is invalid: {describe_problems(wrong)}") from None
            items += planned or []
            data["plan"] = [item.model_dump(mode="json", exclude_none=True) for item in items]
        try:
            checked_json: dict[str, Any] = json.loads(json.dumps(data))
            return checked_json
        except (TypeError, ValueError) as exc:
            raise StepError(f"outputs of {self.type} are not JSON: {exc}") from None


def _config_error(problems: list[ConfigProblem]) -> ConfigError:
    return ConfigError(f"invalid config: {describe_problems(problems)}", problems)


def _model_or_none(annotation: Any, what: str, fn: Handler) -> type[BaseModel] | None:
    if annotation in (None, type(None), inspect.Parameter.empty, dict, typing.Any):
        return None
    origin = typing.get_origin(annotation)
    if origin is dict:
        return None
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    raise TypeError(f"{fn.__qualname__}: the {what} must be a pydantic model, got {annotation!r}")


def _annotations(fn: Handler) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception as exc:  # a name only defined locally: fall back to what is already a class
        raw = dict(getattr(fn, "__annotations__", {}))
        unresolved = [name for name, value in raw.items() if isinstance(value, str)]
        if unresolved:
            raise TypeError(f"{fn.__qualname__}: cannot resolve annotations {unresolved}: {exc}") from None
        return raw


class Plugin:
    """A named set of step types and workflow templates; the value of a `vwmp.plugins` entry point.

    Example:
        ```python
        plugin = Plugin("git", title="Git", description="Git operations")

        @plugin.step("tag", title="Create tag")
        def tag(ctx: StepContext, config: TagConfig) -> TagOutputs: ...
        ```

    Args:
        name: plugin name; the prefix of every step type (`"git"` → `"git/tag"`).
        title: short human title.
        description: what the plugin is for.
        icon: the designer's node icon for its steps: an emoji, or a `data:image/svg+xml` / `data:image/png`
            URI of at most 8 KB (never a remote URL: the designer loads nothing from elsewhere).
    """

    def __init__(self, name: str, title: str = "", description: str = "", icon: str = "") -> None:
        if not name or "/" in name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"invalid plugin name {name!r}: use letters, digits, '-' and '_'")
        self.name = name
        self.title = title or name
        self.description = description
        self.icon = check_icon(icon, f"plugin {name}")
        self.steps: dict[str, StepDefinition] = {}
        self.templates: list[Template] = []

    def __repr__(self) -> str:
        return f"Plugin({self.name!r}, steps={sorted(self.steps)})"

    def step(
        self,
        name: str,
        *,
        title: str = "",
        description: str = "",
        outputs: type[BaseModel] | None = None,
        icon: str = "",
        effects: Effects = "remote",
    ) -> Callable[[H], H]:
        """Register the decorated function as step type `"<plugin>/<name>"`.

        The config model is the annotation of the handler's second parameter (omit the parameter
        for a step without config); the outputs model is `outputs` or the return annotation.

        Args:
            name: step name within the plugin.
            title: short human title shown in the palette.
            description: what the step does (defaults to the handler's docstring).
            outputs: outputs model when the return annotation is not one.
            icon: this step's node icon (as the plugin's `icon`; the plugin's when empty).
            effects: what running it changes: `"local"` (files and repositories in the workspace),
                `"remote"` (another system: a push, a forge, an API) or `"none"`. A dry run runs local
                and none steps for real in a scratch copy of the workspace, so their plans hold real
                commits, diffs and errors, and asks remote ones for a plan there. Undeclared steps are
                `"remote"`: planned, as a step that could change anything must be.

        Returns:
            A decorator returning the handler unchanged.
        """

        def register(fn: H) -> H:
            step_type = f"{self.name}/{name}"
            step_icon = check_icon(icon, step_type) or self.icon
            if effects not in EFFECTS:
                raise ValueError(f"{step_type}: effects must be one of {', '.join(EFFECTS)}, not {effects!r}")
            if step_type in {d.type for d in self.steps.values()}:
                raise ValueError(f"step type {step_type} is registered twice")
            hints = _annotations(fn)
            params = list(inspect.signature(fn).parameters.values())
            if not 1 <= len(params) <= 2:
                raise TypeError(f"{fn.__qualname__}: a step handler takes (ctx) or (ctx, config)")
            config_model = None
            if len(params) == 2:
                config_model = _model_or_none(hints.get(params[1].name), "config annotation", fn)
                if config_model is None:
                    raise TypeError(f"{fn.__qualname__}: annotate the config parameter with a pydantic model")
                config_model = _strict(config_model)
            outputs_model = outputs or _model_or_none(hints.get("return"), "return annotation", fn)
            self.steps[name] = StepDefinition(
                type=step_type, plugin=self.name, name=name, title=title or name,
                description=description or inspect.getdoc(fn) or "", handler=fn,
                config_model=config_model, outputs_model=outputs_model, icon=step_icon, effects=effects,
            )
            return fn

        return register

    def add_template(self, template: Template) -> None:
        """Offer a workflow template.

        Args:
            template: the template; its name must be unique in the plugin.
        """
        if any(t.name == template.name for t in self.templates):
            raise ValueError(f"template {template.name} is added twice")
        self.templates.append(template)


def step_index(
    plugins: Plugin | list[Plugin] | tuple[Plugin, ...],
) -> tuple[list[Plugin], dict[str, StepDefinition]]:
    """The plugins as a list and every step definition by type; rejects duplicates."""
    items = [plugins] if isinstance(plugins, Plugin) else list(plugins)
    names: set[str] = set()
    index: dict[str, StepDefinition] = {}
    for plugin in items:
        if not isinstance(plugin, Plugin):
            raise TypeError(f"expected a vwmp_sdk.Plugin, got {plugin!r}")
        if plugin.name in names:
            raise ValueError(f"plugin {plugin.name} is given twice")
        names.add(plugin.name)
        for definition in plugin.steps.values():
            index[definition.type] = definition
    return items, index


def _strict(model: type[BaseModel]) -> type[BaseModel]:
    """The config model refusing unknown fields, unless its author chose otherwise.

    A typo in a workflow's `with:` (`nme:` for `name:`) must be an error that
    points at the field, not a silently ignored value.
    """
    if "extra" in model.model_config:
        return model
    config = model.model_config.copy()
    config["extra"] = "forbid"
    return type(model.__name__, (model,), {"model_config": config, "__module__": model.__module__,
                                            "__doc__": model.__doc__})
