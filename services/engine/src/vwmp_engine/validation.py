"""Validation of workflow definitions: the published JSON Schema, then the semantic checks.

Every problem is reported with an RFC 6901 JSON pointer to the offending field,
so the designer can put the message on the node and the field it concerns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from vwmp_common.json_pointer import pointer
from vwmp_common.schema_errors import SchemaProblem as Problem
from vwmp_common.schema_errors import schema_problems
from vwmp_common.schemas import workflow_schema

from vwmp_engine import expressions
from vwmp_engine.core_steps import approval_config_problems
from vwmp_engine.expression_functions import STATUS_FUNCTIONS
from vwmp_engine.schema_check import SchemaCheck
from vwmp_engine.step_types import StepTypeInfo, sub_workflow_name
from vwmp_engine.triggers.checks import trigger_problems

RUN_FIELDS = ("id", "workflow", "version", "dry_run")
# What a concurrency key may use: it is evaluated before the run exists (no id, no steps yet).
KEY_RUN_FIELDS = ("workflow", "version", "dry_run", "created_by")
STEP_FIELDS = ("outputs", "state")
# What finally steps and spec.outputs may use besides: the run's outcome, known once every step is terminal.
END_RUN_FIELDS = (*RUN_FIELDS, "state", "failed_steps")

_WORKFLOW_CHECK = SchemaCheck(workflow_schema())
StepTypeLookup = Callable[[str], StepTypeInfo | None]
IsUpstream = Callable[[Any, str], bool]  # whether a step (its id) may read a target step's state and outputs


def validate_definition(
    definition: Any, step_type: StepTypeLookup, step_defaults: dict[str, Any] | None = None
) -> list[Problem]:
    """Every problem of a definition: shape first, then ids, needs, cycles, uses, configs, references.

    `step_defaults` are the platform configuration's defaults per step type; a field they provide
    need not be in the step's `with`.
    """
    if not isinstance(definition, dict):
        return [Problem("", "a workflow definition must be an object")]
    problems = _WORKFLOW_CHECK.problems(definition)
    spec = definition.get("spec")
    steps = spec.get("steps") if isinstance(spec, dict) else None
    if not isinstance(spec, dict) or not isinstance(steps, list):
        return problems
    parameters = spec.get("parameters")
    if isinstance(parameters, dict):
        try:
            Draft202012Validator.check_schema(parameters)
        except SchemaError as error:
            problems.append(Problem(pointer("spec", "parameters", *error.path), f"not a valid JSON Schema: "
                                                                                 f"{error.message}"))
    usable = {index: step for index, step in enumerate(steps) if isinstance(step, dict)}
    finally_usable = _finally_steps(spec.get("finally"))
    problems += _check_ids_and_needs(usable, {step["id"] for step in finally_usable.values()
                                              if isinstance(step.get("id"), str)})
    problems += _check_cycles(usable)
    problems += _check_step_configs(usable, step_type, step_defaults or {})
    problems += _check_references(usable, parameters if isinstance(parameters, dict) else None, step_type)
    problems += _check_fan_out_keys(usable)
    problems += _check_compensations(usable, parameters if isinstance(parameters, dict) else None, step_type,
                                     step_defaults or {})
    problems += _check_concurrency_key(spec.get("concurrency"), parameters if isinstance(parameters, dict) else None)
    problems += _check_finally(finally_usable, usable, parameters if isinstance(parameters, dict) else None,
                               step_type, step_defaults or {})
    problems += _check_outputs(spec.get("outputs"), {**usable, **{-1 - i: s for i, s in finally_usable.items()}},
                               parameters if isinstance(parameters, dict) else None, step_type)
    problems += trigger_problems(spec)
    return _unique(problems)


def _check_concurrency_key(concurrency: Any, parameters: dict[str, Any] | None) -> Iterator[Problem]:
    """The key's `${{ }}` may only name params and the run fields known at start."""
    key = concurrency.get("key") if isinstance(concurrency, dict) else None
    if not isinstance(key, str):
        return
    where = pointer("spec", "concurrency", "key")
    declared = parameters.get("properties") if parameters else None
    for source in expressions.expressions_in(key):
        try:
            tree = expressions.parse(source)
        except expressions.ExpressionError as error:
            yield Problem(where, f"invalid expression {source.strip()!r}: {error}")
            continue
        for reference in expressions.references(tree):
            root, rest = reference.path[0], reference.path[1:]
            if root == "params":
                if (message := _params_problem(reference, declared)) is not None:
                    yield Problem(where, message)
            elif root == "run":
                if len(rest) != 1 or rest[0] not in KEY_RUN_FIELDS:
                    yield Problem(where, f"{reference}: a concurrency key can use run.{', run.'.join(KEY_RUN_FIELDS)}")
            else:
                yield Problem(where, f"{reference}: a concurrency key can only use params and run "
                                     "(it is evaluated when the run starts)")


def concurrency_key(concurrency: dict[str, Any], scope: dict[str, Any]) -> str:
    """The evaluated key of `spec.concurrency`; ExpressionError when it cannot be evaluated or is empty."""
    value = expressions.render(concurrency["key"], scope)
    text = expressions.as_text(value)
    if not text.strip():
        raise expressions.ExpressionError(f"the key {concurrency['key']!r} evaluates to an empty text")
    if len(text) > 500:
        raise expressions.ExpressionError(f"the evaluated key is {len(text)} characters long (at most 500)")
    return text


def _check_ids_and_needs(steps: dict[int, dict[str, Any]], finally_ids: set[Any] | None = None) -> Iterator[Problem]:
    first_index: dict[str, int] = {}
    for index, step in steps.items():
        step_id = step.get("id")
        if isinstance(step_id, str):
            if step_id in first_index:
                yield Problem(pointer("spec", "steps", index, "id"),
                              f"duplicate step id {step_id!r} (first used by step {first_index[step_id]})")
            else:
                first_index[step_id] = index
    for index, step in steps.items():
        needs = step.get("needs")
        if not isinstance(needs, list):
            continue
        for position, need in enumerate(needs):
            if isinstance(need, str) and need in (finally_ids or ()):
                yield Problem(pointer("spec", "steps", index, "needs", position),
                              f"needs finally step {need!r}: they run after every step")
            elif isinstance(need, str) and need not in first_index:
                yield Problem(pointer("spec", "steps", index, "needs", position), f"needs unknown step {need!r}")


def _needs(step: dict[str, Any]) -> list[str]:
    """The step ids a step needs, whatever else its `needs` holds (the schema check reports that)."""
    needs = step.get("needs")
    return [need for need in needs if isinstance(need, str)] if isinstance(needs, list) else []


def _check_cycles(steps: dict[int, dict[str, Any]]) -> Iterator[Problem]:
    index_of = {step["id"]: index for index, step in steps.items() if isinstance(step.get("id"), str)}
    needs_of = {
        step_id: [n for n in _needs(steps[index]) if n in index_of]
        for step_id, index in index_of.items()
    }
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    reported: set[frozenset[str]] = set()
    for start in index_of:
        if state.get(start):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(needs_of[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                cycle = [*path[path.index(child):], child]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    first = cycle[0]
                    yield Problem(
                        pointer("spec", "steps", index_of[first], "needs", needs_of[first].index(cycle[1])),
                        "cycle: " + " → ".join(reversed(cycle)),
                    )
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(needs_of[child])))


def _check_step_configs(
    steps: dict[int, dict[str, Any]], step_type: StepTypeLookup, step_defaults: dict[str, Any]
) -> Iterator[Problem]:
    checks: dict[str, SchemaCheck] = {}  # one compiled config schema per step type
    for index, step in steps.items():
        uses = step.get("uses")
        if not isinstance(uses, str):
            continue
        info = step_type(uses)
        if info is None:
            yield Problem(pointer("spec", "steps", index, "uses"),
                          f"unknown step type {uses!r} (no live plugin host offers it)")
            continue
        config = step.get("with", {})
        if not isinstance(config, dict):
            continue
        config = with_step_defaults(uses, config, step_defaults)
        if uses not in checks:
            checks[uses] = SchemaCheck(info.config_schema)
        where = ("spec", "steps", index, "with")
        for problem in checks[uses].problems(config, where):
            if not expressions.holds_expression(config, problem.pointer[len(pointer(*where)):]):
                yield problem
        if uses == "core/approval":
            for path, message in approval_config_problems(config):
                yield Problem(pointer("spec", "steps", index, "with", *path), message)


def with_step_defaults(uses: str, config: dict[str, Any], step_defaults: dict[str, Any]) -> dict[str, Any]:
    """A step's `with` over the platform configuration's defaults for its type (the step's own value wins)."""
    defaults = step_defaults.get(uses)
    return {**defaults, **config} if isinstance(defaults, dict) else config


class UpstreamIndex:
    """Which steps a step depends on, directly or transitively: `includes(step_id, target)`.

    A reference to a direct need is answered from the step's own `needs`; the transitive closure is
    built only when a reference needs it, once, in one pass over the steps in dependency order with a
    bit set (a Python int) per step, so a 10,000-step chain costs milliseconds instead of the
    50 million set insertions of a per-step walk. A graph with a cycle (already reported as such)
    falls back to walking from each step asked about.
    """

    def __init__(self, steps: dict[int, dict[str, Any]]) -> None:
        self._steps = steps
        self._needs: dict[str, list[str]] = {}
        self._by_id: dict[str, dict[str, Any]] | None = None  # built at the first question
        self._bit: dict[str, int] = {}
        self._reach: dict[str, int] = {}  # empty until closed, and when there is a cycle
        self._closed = False
        self._walked: dict[str, set[str]] = {}

    def includes(self, step_id: Any, target: str) -> bool:
        if self._by_id is None:
            self._by_id = {s["id"]: s for s in self._steps.values() if isinstance(s.get("id"), str)}
        step = self._by_id.get(step_id) if isinstance(step_id, str) else None
        if step is None:
            return False
        needs = step.get("needs")
        if isinstance(needs, list) and len(needs) <= 16 and target in needs:  # a direct need: no graph needed
            return True
        if not self._needs:
            self._needs = {step_id: _needs(s) for step_id, s in self._by_id.items()}
        if not self._closed:
            self._close()
        if self._reach:
            bit = self._bit.get(target)
            return bit is not None and bool(self._reach[step_id] >> bit & 1)
        if step_id not in self._walked:
            self._walked[step_id] = self._walk(step_id)
        return target in self._walked[step_id]

    def _close(self) -> None:
        """Every step's upstream as a bit set, in dependency order; none when there is a cycle."""
        self._closed = True
        needs = {step_id: [n for n in wanted if n in self._needs] for step_id, wanted in self._needs.items()}
        waiting = {step_id: len(wanted) for step_id, wanted in needs.items()}
        needed_by: dict[str, list[str]] = {step_id: [] for step_id in needs}
        for step_id, wanted in needs.items():
            for need in wanted:
                needed_by[need].append(step_id)
        order = [step_id for step_id, count in waiting.items() if count == 0]
        for step_id in order:  # grows while it is read: Kahn's algorithm
            for child in needed_by[step_id]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    order.append(child)
        self._bit = {step_id: position for position, step_id in enumerate(needs)}
        if len(order) < len(needs):
            return  # a cycle: _walk answers instead
        for step_id in order:
            reach = 0
            for need in needs[step_id]:
                reach |= self._reach[need] | 1 << self._bit[need]
            self._reach[step_id] = reach

    def _walk(self, step_id: str) -> set[str]:
        seen: set[str] = set()
        frontier = list(self._needs[step_id])
        while frontier:
            need = frontier.pop()
            if need not in seen and need in self._needs:
                seen.add(need)
                frontier.extend(self._needs[need])
        return seen


def _check_references(
    steps: dict[int, dict[str, Any]], parameters: dict[str, Any] | None, step_type: StepTypeLookup
) -> Iterator[Problem]:
    upstream = UpstreamIndex(steps).includes
    uses_of = {s["id"]: s.get("uses") for s in steps.values() if isinstance(s.get("id"), str)}
    declared = parameters.get("properties") if parameters else None
    fan_outs = _fan_out_ids(steps)
    for index, step in steps.items():
        step_id = step.get("id")
        texts: list[tuple[tuple[object, ...], str, bool]] = [
            (path, text, False)
            for path, text in expressions.strings_in(step.get("with"), ("spec", "steps", index, "with"))
        ]
        if isinstance(step.get("if"), str):
            texts.append((("spec", "steps", index, "if"), step["if"], True))
        texts += _for_each_texts(step, index)
        for path, text, is_condition in texts:
            sources = [expressions.condition_expression(text)] if is_condition else expressions.expressions_in(text)
            for source in sources:
                try:
                    tree = expressions.parse(source)
                except expressions.ExpressionError as error:
                    yield Problem(pointer(*path), f"invalid expression {source.strip()!r}: {error}")
                    continue
                if not is_condition:
                    for call in expressions.calls(tree):
                        if call.name in STATUS_FUNCTIONS:
                            yield Problem(pointer(*path), f"{call.name}() is only available in if: conditions")
                for reference in expressions.references(tree):
                    if reference.path[0] in expressions.ITEM_ROOTS:
                        message = _item_problem(reference, step, path)
                    else:
                        message = _reference_problem(reference, step_id, upstream, uses_of, declared, step_type,
                                                     fan_outs)
                    if message:
                        yield Problem(pointer(*path), message)


def _check_compensations(
    steps: dict[int, dict[str, Any]], parameters: dict[str, Any] | None, step_type: StepTypeLookup,
    step_defaults: dict[str, Any],
) -> Iterator[Problem]:
    """Each step's `compensate`: a step type that exists and whose config fits, references to the step
    itself and its upstream; not on an approval gate, and not waiting for a person. That of a for_each
    step runs per item: it sees `item`, `item_index`, and `steps.<itself>.outputs` as the item's outputs."""
    undos: dict[int, dict[str, Any]] = {}
    for index, step in steps.items():
        undo = step.get("compensate")
        if not isinstance(undo, dict) or not isinstance(step.get("id"), str):
            continue
        where = ("spec", "steps", index, "compensate")
        if step.get("uses") == "core/approval":
            yield Problem(pointer(*where), "an approval gate has nothing to undo")
            continue
        if undo.get("uses") == "core/approval" or (isinstance(undo.get("uses"), str)
                                                    and sub_workflow_name(undo["uses"]) is not None):
            yield Problem(pointer(*where, "uses"), "a compensation is a plugin or core step (not an approval "
                                                   "gate, not a sub-workflow)")
            continue
        undos[index] = {"id": step["id"], "uses": undo.get("uses"), "with": undo.get("with", {})}
    for problem in _check_step_configs(undos, step_type, step_defaults):
        yield _into_compensate(problem)
    includes = UpstreamIndex(steps).includes
    uses_of = {s["id"]: s.get("uses") for s in steps.values() if isinstance(s.get("id"), str)}
    declared = parameters.get("properties") if parameters else None
    fan_outs = _fan_out_ids(steps)
    for index, undo in undos.items():
        step_id = undo["id"]
        itself = f"{step_id}#compensate"  # sees the step it undoes and everything upstream of it
        per_item = steps[index].get("for_each") is not None
        lists = fan_outs - {step_id} if per_item else fan_outs  # an item's undo sees its own outputs

        def seen(asker: Any, target: str, undone: str = step_id, itself: str = itself) -> bool:
            if asker == itself:
                return target == undone or includes(undone, target)
            return includes(asker, target)
        for path, text in expressions.strings_in(undo.get("with"), ("spec", "steps", index, "compensate", "with")):
            for source in expressions.expressions_in(text):
                try:
                    tree = expressions.parse(source)
                except expressions.ExpressionError as error:
                    yield Problem(pointer(*path), f"invalid expression {source.strip()!r}: {error}")
                    continue
                for call in expressions.calls(tree):
                    if call.name in STATUS_FUNCTIONS:
                        yield Problem(pointer(*path), f"{call.name}() is only available in if: conditions")
                for reference in expressions.references(tree):
                    if reference.path[0] in expressions.ITEM_ROOTS:
                        message: str | None = _undo_item_problem(reference, per_item)
                    else:
                        message = _reference_problem(reference, itself, seen, uses_of, declared, step_type, lists)
                    if message:
                        yield Problem(pointer(*path), message.replace(repr(itself), f"the compensation of {step_id!r}"))


def _undo_item_problem(reference: expressions.Reference, per_item: bool) -> str | None:
    """`item` and `item_index` in a compensation: only that of a for_each step, which runs per item."""
    if not per_item:
        return f"{reference}: {reference.path[0]} exists only in a step with for_each"
    if reference.path[0] == "item_index" and len(reference.path) > 1:
        return f"{reference}: item_index is a number (the item's 0-based position)"
    return None


def _into_compensate(problem: Problem) -> Problem:
    """A problem _check_step_configs found at /spec/steps/<i>/<rest>, moved under /spec/steps/<i>/compensate."""
    parts = problem.pointer.split("/")  # '', 'spec', 'steps', '<i>', rest...
    return Problem("/".join([*parts[:4], "compensate", *parts[4:]]), problem.message)


def _for_each_texts(step: dict[str, Any], index: int) -> list[tuple[tuple[object, ...], str, bool]]:
    """The expressions of a step's `for_each`: checked like those of its `with:`."""
    where = ("spec", "steps", index, "for_each")
    return [(path, text, False) for path, text in expressions.strings_in(step.get("for_each"), where)]


def _item_problem(reference: expressions.Reference, step: dict[str, Any], path: tuple[object, ...]) -> str | None:
    """`item` and `item_index` exist in a for_each step's `with:` and `if:`, not in its list nor elsewhere."""
    if step.get("for_each") is None:
        return f"{reference}: {reference.path[0]} exists only in a step with for_each"
    if path[3] == "for_each":
        return f"{reference}: for_each cannot use {reference.path[0]} (it is what for_each produces)"
    if reference.path[0] == "item_index" and len(reference.path) > 1:
        return f"{reference}: item_index is a number (the item's 0-based position)"
    return None


def _fan_out_ids(steps: dict[int, dict[str, Any]]) -> set[str]:
    """Ids of the steps with for_each: their outputs are lists."""
    return {s["id"] for s in steps.values() if isinstance(s.get("id"), str) and s.get("for_each") is not None}


def _fan_out_reference(
    reference: expressions.Reference, fan_outs: set[str]
) -> tuple[expressions.Reference, str | None]:
    """`steps.<for_each step>.outputs` is a list of the items' outputs: `outputs[1].name` is checked as
    `outputs.name` of its step type; a name without an index is a problem."""
    path = reference.path
    if len(path) < 4 or path[0] != "steps" or path[1] not in fan_outs or path[2] != "outputs":
        return reference, None
    if not path[3].isdigit():
        return reference, (f"{reference}: steps.{path[1]}.outputs is a list (one element per item); "
                           f"use steps.{path[1]}.outputs[<index>].<name>")
    return expressions.Reference(path[:3] + path[4:]), None


def _check_fan_out_keys(steps: dict[int, dict[str, Any]]) -> Iterator[Problem]:
    """`for_each` is one expression (or a literal list); max_parallel and fail_fast need a for_each."""
    for index, step in steps.items():
        for_each = step.get("for_each")
        if for_each is None:
            for key in ("max_parallel", "fail_fast"):
                if key in step:
                    yield Problem(pointer("spec", "steps", index, key), f"{key} applies only to a step with for_each")
        elif isinstance(for_each, str) and not expressions.EXPRESSION.fullmatch(for_each.strip()):
            yield Problem(pointer("spec", "steps", index, "for_each"),
                          "for_each must be one ${{ }} expression that evaluates to a list, or a list")


def _params_problem(reference: expressions.Reference, declared: Any) -> str | None:
    """What is wrong with a `params.<name>` reference: no name, or one spec.parameters does not declare."""
    rest = reference.path[1:]
    if not rest:
        return "params needs a parameter name, e.g. params.repo"
    if isinstance(declared, dict) and rest[0] not in declared:
        return f"{reference}: parameter {rest[0]!r} is not declared in spec.parameters"
    return None


def _reference_problem(
    reference: expressions.Reference,
    step_id: Any,
    upstream: IsUpstream,
    uses_of: dict[str, Any],
    declared: Any,
    step_type: StepTypeLookup,
    fan_outs: set[str],
) -> str | None:
    """What is wrong with a reference of a step's expression, said as written (a fan-out's index and all)."""
    checked, message = _fan_out_reference(reference, fan_outs)
    message = message or _plain_reference_problem(checked, step_id, upstream, uses_of, declared, step_type)
    if message and checked is not reference:
        message = message.replace(str(checked), str(reference), 1)
    return message


def _plain_reference_problem(
    reference: expressions.Reference,
    step_id: Any,
    upstream: IsUpstream,
    uses_of: dict[str, Any],
    declared: Any,
    step_type: StepTypeLookup,
) -> str | None:
    root, rest = reference.path[0], reference.path[1:]
    if root == "params":
        return _params_problem(reference, declared)
    if root == "run":
        return None if len(rest) == 1 and rest[0] in RUN_FIELDS else (
            f"{reference}: run has only {', '.join(RUN_FIELDS)}")
    if root == "secrets":
        return None if len(rest) == 1 else f"{reference}: use secrets.<NAME>"
    if len(rest) < 2 or rest[1] not in STEP_FIELDS:
        return f"{reference}: use steps.<id>.outputs.<name> or steps.<id>.state"
    target = rest[0]
    if target not in uses_of:
        return f"{reference}: no step {target!r}"
    if target == step_id or not upstream(step_id, target):
        return f"{reference}: step {target!r} is not upstream of {step_id!r} (add it to needs)"
    if rest[1] == "outputs" and len(rest) >= 3:
        info = step_type(uses_of[target]) if isinstance(uses_of[target], str) else None
        properties = (info.outputs_schema.get("properties") if info else None) or {}
        closed = info is not None and (properties or info.outputs_schema.get("additionalProperties") is False)
        if closed and rest[2] not in properties and rest[2] != "plan":
            known = ", ".join(sorted(properties)) or "none"
            return f"{reference}: {uses_of[target]} has no output {rest[2]!r} (outputs: {known})"
    return None


def _finally_steps(finally_steps: Any) -> dict[int, dict[str, Any]]:
    if not isinstance(finally_steps, list):
        return {}
    return {index: step for index, step in enumerate(finally_steps) if isinstance(step, dict)}


def _in_finally(problems: Iterable[Problem]) -> Iterator[Problem]:
    """Problems a check of `spec.steps` found in finally steps, pointing into `spec.finally`."""
    prefix = pointer("spec", "steps") + "/"
    for problem in problems:
        if problem.pointer.startswith(prefix):
            problem = Problem(pointer("spec", "finally") + "/" + problem.pointer[len(prefix):], problem.message)
        yield problem


def _check_finally(
    finally_steps: dict[int, dict[str, Any]], main: dict[int, dict[str, Any]], parameters: dict[str, Any] | None,
    step_type: StepTypeLookup, step_defaults: dict[str, Any],
) -> Iterator[Problem]:
    """spec.finally: ids unique across both lists, needs naming finally steps only and without cycles,
    no approval gate (nobody may hold up the clean-up) and no fan-out, configs checked as any step's,
    references to every main step, to upstream finally steps and to run.state / run.failed_steps."""
    main_index = {step["id"]: index for index, step in main.items() if isinstance(step.get("id"), str)}
    first_index: dict[str, int] = {}
    for index, step in finally_steps.items():
        step_id = step.get("id")
        if not isinstance(step_id, str):
            continue
        if step_id in main_index:
            yield Problem(pointer("spec", "finally", index, "id"),
                          f"duplicate step id {step_id!r} (used by spec.steps/{main_index[step_id]})")
        elif step_id in first_index:
            yield Problem(pointer("spec", "finally", index, "id"),
                          f"duplicate step id {step_id!r} (first used by finally step {first_index[step_id]})")
        else:
            first_index[step_id] = index
        if step.get("uses") == "core/approval":
            yield Problem(pointer("spec", "finally", index, "uses"),
                          "a finally step cannot wait for a person (core/approval)")
        if "for_each" in step:
            yield Problem(pointer("spec", "finally", index, "for_each"), "a finally step cannot fan out (for_each)")
        if "compensate" in step:
            yield Problem(pointer("spec", "finally", index, "compensate"),
                          "a finally step has no compensation: it runs after the unwind")
    for index, step in finally_steps.items():
        needs = step.get("needs")
        for position, need in enumerate(needs if isinstance(needs, list) else []):
            if not isinstance(need, str) or need in first_index:
                continue
            where = pointer("spec", "finally", index, "needs", position)
            if need in main_index:
                yield Problem(where, f"needs step {need!r} of spec.steps: a finally step runs after every step "
                                     "anyway, its needs name finally steps only")
            else:
                yield Problem(where, f"needs unknown finally step {need!r}")
    yield from _in_finally(_check_cycles(finally_steps))
    yield from _in_finally(_check_step_configs(finally_steps, step_type, step_defaults))
    finally_upstream = UpstreamIndex(finally_steps).includes
    everything = {**main, **{-1 - index: step for index, step in finally_steps.items()}}
    uses_of = {s["id"]: s.get("uses") for s in everything.values() if isinstance(s.get("id"), str)}
    fan_outs = _fan_out_ids(main)
    declared = parameters.get("properties") if parameters else None

    def visible_to_finally(step_id: Any, target: str) -> bool:
        """Every main step, and the finally steps upstream of this one."""
        return isinstance(step_id, str) and (target in main_index or finally_upstream(step_id, target))

    for index, step in finally_steps.items():
        step_id = step.get("id")
        texts = [(path, text, False)
                 for path, text in expressions.strings_in(step.get("with"), ("spec", "finally", index, "with"))]
        if isinstance(step.get("if"), str):
            texts.append((("spec", "finally", index, "if"), step["if"], True))
        for path, text, is_condition in texts:
            for reference, problem in _expression_problems(text, is_condition):
                if problem is None and reference is not None:
                    problem = _end_reference_problem(reference, step_id, visible_to_finally, uses_of, declared,
                                                     step_type, fan_outs)
                if problem:
                    yield Problem(pointer(*path), problem)


def _check_outputs(outputs: Any, steps: dict[int, dict[str, Any]], parameters: dict[str, Any] | None,
                   step_type: StepTypeLookup) -> Iterator[Problem]:
    """spec.outputs (their names are the schema's): expressions over params, any step and the run's outcome."""
    if not isinstance(outputs, dict):
        return
    uses_of = {s["id"]: s.get("uses") for s in steps.values() if isinstance(s.get("id"), str)}
    def visible(step_id: Any, target: str) -> bool:
        return True  # evaluated when every step is terminal: all are upstream

    fan_outs = _fan_out_ids(steps)
    declared = parameters.get("properties") if parameters else None
    for name, value in outputs.items():
        for path, text in expressions.strings_in(value, ("spec", "outputs", name)):
            for reference, problem in _expression_problems(text, False):
                if problem is None and reference is not None:
                    problem = _end_reference_problem(reference, "", visible, uses_of, declared, step_type, fan_outs)
                if problem:
                    yield Problem(pointer(*path), problem)


def _expression_problems(text: str, is_condition: bool) -> Iterator[tuple[expressions.Reference | None, str | None]]:
    """Each reference of the `${{ }}` in a text (to be checked), or a problem of the expression itself."""
    sources = [expressions.condition_expression(text)] if is_condition else expressions.expressions_in(text)
    for source in sources:
        try:
            tree = expressions.parse(source)
        except expressions.ExpressionError as error:
            yield None, f"invalid expression {source.strip()!r}: {error}"
            continue
        if not is_condition:
            for call in expressions.calls(tree):
                if call.name in STATUS_FUNCTIONS:
                    yield None, f"{call.name}() is only available in if: conditions"
        for reference in expressions.references(tree):
            yield reference, None


def _end_reference_problem(reference: expressions.Reference, step_id: Any, upstream: IsUpstream,
                           uses_of: dict[str, Any], declared: Any, step_type: StepTypeLookup,
                           fan_outs: set[str]) -> str | None:
    """A reference of a finally step or an output, which may also use run.state and run.failed_steps."""
    if reference.path[0] == "run":
        rest = reference.path[1:]
        if rest[:1] == ("failed_steps",) or (len(rest) == 1 and rest[0] in END_RUN_FIELDS):
            return None
        return f"{reference}: run has only {', '.join(END_RUN_FIELDS)}"
    return _reference_problem(reference, step_id, upstream, uses_of, declared, step_type, fan_outs)


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))  # first occurrence of each, in order


def validate_parameters(schema: dict[str, Any], parameters: Any) -> list[Problem]:
    """Run parameters checked against the workflow's parameter schema (pointers into the parameters)."""
    return schema_problems(Draft202012Validator(schema), parameters)


def apply_parameter_defaults(schema: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """Parameters with the schema's top-level defaults filled in."""
    filled = dict(parameters)
    for name, prop in (schema.get("properties") or {}).items():
        if name not in filled and isinstance(prop, dict) and "default" in prop:
            filled[name] = prop["default"]
    return filled
