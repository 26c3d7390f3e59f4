"""Checking the workflows a definition calls (`uses: workflow/<name>`) against what storage holds.

Every reachable workflow version is read from storage once, then: an unknown workflow (or version)
is reported at the calling step, `with.parameters` is checked against the called workflow's
parameter schema, and a call cycle is reported at the `uses` of the step that leads into it with the
path (`a → b → a`). The definition being checked stands for its own name's latest version.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from vwmp_common.json_pointer import pointer
from vwmp_common.schema_errors import SchemaProblem as Problem
from vwmp_common.schema_errors import schema_problems

from vwmp_engine.expressions import holds_expression
from vwmp_engine.step_types import SUB_WORKFLOW_PREFIX, StepTypeInfo, sub_workflow_name
from vwmp_engine.store import NotFound, StorageError, Store
from vwmp_engine.sub_workflows import step_type_info
from vwmp_engine.validation import StepTypeLookup

Node = tuple[str, int]  # a workflow and its version; 0 = the latest
Call = tuple[tuple[object, ...], Node, dict[str, Any]]  # the calling step's path, what it calls, its `with`
MAX_WORKFLOWS = 1000  # reachable workflows read for one check; a deeper tree is cut off here
ANY_OBJECT: dict[str, Any] = {"type": "object"}


def calls_of(definition: Any) -> Iterator[Call]:
    """The sub-workflow steps of a definition (main and finally steps), whatever its shape."""
    spec = definition.get("spec") if isinstance(definition, dict) else None
    if not isinstance(spec, dict):
        return
    for key in ("steps", "finally"):
        steps = spec.get(key)
        for index, step in enumerate(steps if isinstance(steps, list) else []):
            uses = step.get("uses") if isinstance(step, dict) else None
            name = sub_workflow_name(uses) if isinstance(uses, str) else None
            if not name:
                continue
            config = step.get("with")
            config = config if isinstance(config, dict) else {}
            version = config.get("version")
            pinned = version if isinstance(version, int) and not isinstance(version, bool) and version > 0 else 0
            yield ("spec", key, index), (name, pinned), config


def _label(node: Node) -> str:
    return node[0] if not node[1] else f"{node[0]} v{node[1]}"


@dataclass
class CallGraph:
    """The workflows reachable from one definition through its sub-workflow steps."""

    root: Node
    definitions: dict[Node, dict[str, Any] | None] = field(default_factory=dict)  # None: storage has none
    _clear: set[Node] = field(default_factory=set)  # no cycle is reachable from these

    @classmethod
    async def load(cls, store: Store, definition: Any) -> CallGraph:
        """Read every workflow the definition reaches, level by level, each version once."""
        metadata = definition.get("metadata") if isinstance(definition, dict) else None
        name = metadata.get("name") if isinstance(metadata, dict) else None
        graph = cls((name if isinstance(name, str) else "", 0))
        graph.definitions[graph.root] = definition if isinstance(definition, dict) else {}
        level = [graph.root]
        while level and len(graph.definitions) < MAX_WORKFLOWS:
            wanted = list(dict.fromkeys(node for caller in level
                                        for _, node, _ in calls_of(graph.definitions[caller])
                                        if node not in graph.definitions))[:MAX_WORKFLOWS - len(graph.definitions)]
            found = await asyncio.gather(*(_read(store, node) for node in wanted))
            graph.definitions.update(zip(wanted, found, strict=True))
            level = [node for node, read in zip(wanted, found, strict=True) if read is not None]
        return graph

    def step_type(self, fallback: StepTypeLookup) -> StepTypeLookup:
        """A step type lookup that knows `workflow/<name>` (its outputs: those of every version called)."""

        def lookup(uses: str) -> StepTypeInfo | None:
            name = sub_workflow_name(uses)
            if name is None:
                return fallback(uses)
            versions = [definition for (called, _), definition in self.definitions.items()
                        if called == name and definition is not None]
            outputs = {key: value for definition in versions
                       for key, value in ((definition.get("spec") or {}).get("outputs") or {}).items()}
            # Parameters are checked in `problems`, against the version each step calls.
            info = step_type_info(name, {"spec": {"outputs": outputs}}, parameters_schema=ANY_OBJECT)
            return info if versions else StepTypeInfo(f"{SUB_WORKFLOW_PREFIX}{name}", "workflow", name, "",
                                                      info.config_schema)

        return lookup

    def problems(self) -> list[Problem]:
        """Unknown workflows and versions, parameters that do not fit, call cycles."""
        found: list[Problem] = []
        for path, node, config in calls_of(self.definitions[self.root]):
            called = self.definitions.get(node)
            if called is None:
                missing = (pointer(*path, "with", "version"), f"workflow {node[0]!r} has no version {node[1]}") \
                    if node[1] else (pointer(*path, "uses"), f"unknown workflow {node[0]!r}")
                found.append(Problem(*missing))
                continue
            found += _parameter_problems(path, called, config)
            cycle = self._cycle_from(node)
            if cycle is not None:
                found.append(Problem(pointer(*path, "uses"), "call cycle: " + " → ".join(map(_label, cycle))))
        return found

    def _cycle_from(self, first: Node) -> list[Node] | None:
        """The path root → first → … → a workflow already on the path, if following `first` leads there."""
        path = [self.root, first]
        if first == self.root:
            return path
        on_path = set(path)
        seen = {first}
        stack = [iter(self._callees(first))]
        while stack:
            node = next(stack[-1], None)
            if node is None:
                stack.pop()
                on_path.discard(path.pop())
            elif node in on_path:
                return [*path, node]
            elif node not in seen and node not in self._clear:
                seen.add(node)
                path.append(node)
                on_path.add(node)
                stack.append(iter(self._callees(node)))
        self._clear |= seen
        return None

    def _callees(self, node: Node) -> list[Node]:
        definition = self.definitions.get(node)
        return [callee for _, callee, _ in calls_of(definition)
                if self.definitions.get(callee) is not None] if definition is not None else []


async def _read(store: Store, node: Node) -> dict[str, Any] | None:
    try:
        return (await store.get_workflow(*node)).definition
    except NotFound:
        return None
    except StorageError as error:
        if error.code == grpc.StatusCode.INVALID_ARGUMENT:  # not even a valid name: no such workflow
            return None
        raise


def _parameter_problems(path: tuple[object, ...], called: dict[str, Any], config: dict[str, Any]) -> list[Problem]:
    """`with.parameters` against the called workflow's parameter schema; `${{ }}` values are checked at run time."""
    parameters = config.get("parameters", {})
    if isinstance(parameters, str) and "${{" in parameters:
        return []
    schema = (called.get("spec") or {}).get("parameters") or ANY_OBJECT
    base = (*path, "with", "parameters")
    try:
        problems = schema_problems(Draft202012Validator(schema), parameters, base)
    except SchemaError:
        return []
    return [problem for problem in problems if not holds_expression(parameters, problem.pointer[len(pointer(*base)):])]
