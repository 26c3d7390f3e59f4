"""Semantic checks of `spec.triggers`, each problem with a JSON pointer to its field."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from vwmp_common.json_pointer import pointer
from vwmp_common.schema_errors import SchemaProblem as Problem
from vwmp_common.schema_errors import schema_problems

from vwmp_engine import expressions
from vwmp_engine.triggers.spec import ScheduleError, parse_cron, time_zone

# What `${{ trigger.… }}` holds for each kind (besides id, kind and at).
TRIGGER_FIELDS = {"schedule": ("scheduled_at",), "webhook": ("delivery", "event"), "on_run": ("run",)}
RUN_FIELDS = ("id", "state", "workflow", "version", "parameters", "outputs")


def trigger_problems(spec: Mapping[str, Any]) -> list[Problem]:
    """Every problem of `spec.triggers`: ids, schedules, secrets, filters, parameter references and values."""
    triggers = spec.get("triggers")
    if not isinstance(triggers, list):
        return []
    declared = spec.get("parameters")
    schema: dict[str, Any] = declared if isinstance(declared, dict) else {"type": "object"}
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for index, trigger in enumerate(triggers):
        if not isinstance(trigger, dict):
            continue
        trigger_id = trigger.get("id")
        if isinstance(trigger_id, str):
            if trigger_id in first:
                problems.append(Problem(pointer("spec", "triggers", index, "id"), f"duplicate trigger id "
                                        f"{trigger_id!r} (first used by trigger {first[trigger_id]})"))
            else:
                first[trigger_id] = index
        kind = next((k for k in TRIGGER_FIELDS if isinstance(trigger.get(k), dict)), None)
        if kind is None:
            continue
        problems += _kind_problems(index, kind, trigger)
        problems += _parameter_problems(index, kind, trigger.get("parameters"), schema)
    return problems


def _kind_problems(index: int, kind: str, trigger: dict[str, Any]) -> Iterator[Problem]:
    body = trigger[kind]
    where = ("spec", "triggers", index)
    if kind != "schedule" and "catchup" in trigger:
        yield Problem(pointer(*where, "catchup"), "catchup applies to schedules only")
    if kind == "schedule":
        if isinstance(body.get("cron"), str):
            try:
                parse_cron(body["cron"])
            except ScheduleError as error:
                yield Problem(pointer(*where, "schedule", "cron"), str(error))
        elif "timezone" in body:
            yield Problem(pointer(*where, "schedule", "timezone"), "a time zone applies to a cron only")
        if isinstance(body.get("timezone"), str):
            try:
                time_zone(body["timezone"])
            except ScheduleError as error:
                yield Problem(pointer(*where, "schedule", "timezone"), str(error))
    elif kind == "webhook":
        secret = body.get("secret")
        if isinstance(secret, str) and secret_name(secret) is None:
            yield Problem(pointer(*where, "webhook", "secret"),
                          "must be a secret reference, ${{ secrets.NAME }} (never the secret itself)")
        if isinstance(body.get("filter"), str):
            yield from _expression_problems((*where, "webhook", "filter"), body["filter"], kind, condition=True)


def secret_name(text: str) -> str | None:
    """NAME when `text` is exactly `${{ secrets.NAME }}`, else None."""
    whole = expressions.EXPRESSION.fullmatch(text.strip())
    if not whole:
        return None
    try:
        tree = expressions.parse(whole.group(1))
    except expressions.ExpressionError:
        return None
    if isinstance(tree, expressions.Reference) and len(tree.path) == 2 and tree.path[0] == "secrets":
        return tree.path[1]
    return None


def _parameter_problems(index: int, kind: str, parameters: Any, schema: dict[str, Any]) -> Iterator[Problem]:
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        return
    base = ("spec", "triggers", index, "parameters")
    for path, text in expressions.strings_in(parameters, base):
        for source in expressions.expressions_in(text):
            yield from _expression_problems(path, source, kind, condition=False)
    try:
        validator = Draft202012Validator(schema)
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return  # reported at /spec/parameters
    filled = dict(parameters)
    for name, prop in (schema.get("properties") or {}).items():
        if name not in filled and isinstance(prop, dict) and "default" in prop:
            filled[name] = prop["default"]
    prefix = pointer(*base)
    for problem in schema_problems(validator, filled, base):
        if not expressions.holds_expression(filled, problem.pointer[len(prefix):]):
            yield problem


def _expression_problems(path: tuple[object, ...], text: str, kind: str, condition: bool) -> Iterator[Problem]:
    source = expressions.condition_expression(text) if condition else text
    try:
        tree = expressions.parse(source)
    except expressions.ExpressionError as error:
        yield Problem(pointer(*path), f"invalid expression {source.strip()!r}: {error}")
        return
    for reference in expressions.references(tree):
        if (message := reference_problem(reference, kind)) is not None:
            yield Problem(pointer(*path), message)


def reference_problem(reference: expressions.Reference, kind: str) -> str | None:
    """What a trigger's parameters or filter may not refer to: the run's own data, secrets, another kind's fields."""
    root, rest = reference.path[0], reference.path[1:]
    if root == "event":
        return None if kind == "webhook" else f"{reference}: event is only available to webhook triggers"
    if root != "trigger":
        return (f"{reference}: a trigger's parameters and filter can use trigger"
                f"{' and event' if kind == 'webhook' else ''} only")
    allowed = ("id", "kind", "at", *TRIGGER_FIELDS[kind])
    if not rest or rest[0] not in allowed:
        return f"{reference}: a {kind} trigger has trigger.{', trigger.'.join(allowed)}"
    if rest[0] == "run" and len(rest) > 1 and rest[1] not in RUN_FIELDS:
        return f"{reference}: trigger.run has {', '.join(RUN_FIELDS)}"
    return None


def completion_loop_problems(name: str, spec: Mapping[str, Any],
                             others: Mapping[str, Mapping[str, Any]]) -> list[Problem]:
    """A chain of on_run triggers that leads back to `name` (others: every other workflow's spec)."""
    def upstream(spec_of: Mapping[str, Any]) -> list[tuple[int, str]]:
        entries = spec_of.get("triggers")
        if not isinstance(entries, list):
            return []
        return [(i, t["on_run"]["workflow"]) for i, t in enumerate(entries)
                if isinstance(t, dict) and isinstance(t.get("on_run"), dict)
                and isinstance(t["on_run"].get("workflow"), str)]

    # workflow W has an edge to V when W's run ending starts V: V has on_run {workflow: W}.
    started_by: dict[str, set[str]] = {}
    for other, other_spec in {**others, name: spec}.items():
        for _, source in upstream(other_spec):
            started_by.setdefault(source, set()).add(other)
    problems = []
    for index, source in upstream(spec):
        # this trigger makes `source` start `name`; a loop exists when `name` leads back to `source`
        path = _path(started_by, name, source)
        if path is not None:
            problems.append(Problem(pointer("spec", "triggers", index, "on_run", "workflow"),
                                    "completion triggers loop: " + " → ".join([source, *path])))
    return problems


def _path(edges: Mapping[str, set[str]], start: str, goal: str) -> list[str] | None:
    """The workflows from `start` to `goal` along edges (start first), or None."""
    frontier: list[list[str]] = [[start]]
    seen = {start}
    while frontier:
        path = frontier.pop(0)
        if path[-1] == goal:
            return path
        for following in sorted(edges.get(path[-1], ())):
            if following not in seen:
                seen.add(following)
                frontier.append([*path, following])
    return None
