"""Hostile-text and shape limits on what clients send: definitions, run parameters, configuration.

Why at the gateway: a NUL byte or a bidi override in a step id, a parameter or a description is
never legitimate, yet it reaches logs, terminals, git commit messages and the designer, where it can
hide what a workflow really does ("Trojan Source"); PostgreSQL cannot even store U+0000 in JSON.
Deeply nested `with:` or parameter values cost recursion everywhere downstream. So they are refused
here with a JSON pointer, before anything is stored or evaluated.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send
from vwmp_common.json_pointer import escape

from vwmp_gateway.problems import Problem, problem_response, validation_problem

MAX_DEPTH = 64  # nesting of a whole definition (as for YAML in documents.py)
MAX_PARAMETER_DEPTH = 32  # nesting of run parameters and configuration documents
MAX_STEPS = 10_000  # as in schemas/workflow.schema.json (spec.steps maxItems)
MAX_ERRORS = 20

# C0 controls except TAB, LF, CR; DEL; C1 controls; bidi embeddings, overrides and isolates. Written with
# escapes, so the same text is a regex for Python, for pydantic and for JSON Schema (ECMA-262) in OpenAPI.
FORBIDDEN_CLASS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
FORBIDDEN = re.compile(f"[{FORBIDDEN_CLASS}]")
SAFE_TEXT_PATTERN = f"^[^{FORBIDDEN_CLASS}]*$"  # what OpenAPI declares for a free text the gateway checks


def _describe(text: str) -> str:
    found = FORBIDDEN.search(text)
    assert found is not None
    return f"U+{ord(found.group()):04X} at character {found.start()}"


def _clean(value: Any, max_depth: int) -> bool:
    """Whether `value` has no forbidden character and no nesting deeper than `max_depth`: the walk of
    `problems_in` without building a pointer per node (a 10,000-step definition has ~100,000 of them)."""
    search = FORBIDDEN.search
    stack: list[tuple[Any, int]] = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        if isinstance(item, str):
            if search(item):
                return False
        elif isinstance(item, dict):
            if depth >= max_depth:
                return False
            for key, child in item.items():
                if search(str(key)):
                    return False
                if isinstance(child, str):
                    if search(child):
                        return False
                elif isinstance(child, dict | list):
                    push((child, depth + 1))
        elif isinstance(item, list):
            if depth >= max_depth:
                return False
            for child in item:
                if isinstance(child, str):
                    if search(child):
                        return False
                elif isinstance(child, dict | list):
                    push((child, depth + 1))
    return True


def problems_in(value: Any, pointer: str = "", max_depth: int = MAX_DEPTH) -> list[dict[str, str]]:
    """Pointed problems: forbidden characters in keys or strings, nesting deeper than `max_depth`."""
    if _clean(value, max_depth):
        return []
    errors: list[dict[str, str]] = []
    stack: list[tuple[Any, str, int]] = [(value, pointer, 0)]
    while stack and len(errors) < MAX_ERRORS:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            if FORBIDDEN.search(item):
                errors.append({"pointer": where or "/", "message": (
                    f"control or bidi character {_describe(item)} is not allowed")})
            continue
        if not isinstance(item, dict | list):
            continue
        if depth >= max_depth:
            errors.append({"pointer": where or "/", "message": f"nested deeper than {max_depth} levels"})
            continue
        if isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                key_text = str(key)
                if FORBIDDEN.search(key_text):
                    errors.append({"pointer": where or "/", "message": (
                        f"key {ascii(key_text)[:80]} holds control or bidi character {_describe(key_text)}, "
                        "which is not allowed")})
                    continue
                stack.append((child, f"{where}/{escape(key_text)}", depth + 1))
        else:
            for index in range(len(item) - 1, -1, -1):
                stack.append((item[index], f"{where}/{index}", depth + 1))
    return errors


def definition_problems(definition: dict[str, Any]) -> list[dict[str, str]]:
    """What the gateway refuses in a definition before the engine sees it."""
    errors = problems_in(definition)
    spec = definition.get("spec")
    steps = spec.get("steps") if isinstance(spec, dict) else None
    if isinstance(steps, list) and len(steps) > MAX_STEPS:
        errors.append({"pointer": "/spec/steps", "message": f"{len(steps)} steps; at most {MAX_STEPS} are allowed"})
    return errors


def check_definition(definition: dict[str, Any]) -> None:
    """422 with pointers when the definition holds forbidden characters, nests too deep or is too long."""
    errors = definition_problems(definition)
    if errors:
        raise validation_problem(errors, "The definition holds characters or a shape the platform refuses")


def check_values(value: Any, pointer: str, what: str) -> None:
    """422 with pointers for run parameters or a configuration document."""
    errors = problems_in(value, pointer, MAX_PARAMETER_DEPTH)
    if errors:
        raise validation_problem(errors, f"Refused characters or nesting in the {what}")


class RefuseHostilePaths:
    """400 for a control or bidi character in the URL path or query (ids there reach SQL and logs)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            query = unquote(scope.get("query_string", b"").decode("latin-1"))
            for part, text in (("path", str(scope.get("path", ""))), ("query", query)):
                if FORBIDDEN.search(text):
                    problem = Problem(400, f"The URL {part} holds a control or bidi character ({_describe(text)})",
                                      title="Bad request", kind="bad-request")
                    if scope["type"] == "http":
                        await problem_response(problem)(scope, receive, send)
                    else:
                        await send({"type": "websocket.close", "code": 1008})
                    return
        await self.app(scope, receive, send)
