"""The safe expression language of `${{ ... }}` references and `if:` conditions.

A tiny recursive-descent parser over a fixed grammar: references
(`params.x`, `steps.<id>.outputs.<k>`, `steps.<id>.state`, `run.id`),
literals, comparisons, `&&`, `||`, `!`, parentheses and calls of the fixed
functions in `expression_functions`. Nothing is ever evaluated as Python;
values are plain JSON data.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from vwmp_common.json_pointer import tokens

from vwmp_engine import expression_functions
from vwmp_engine.expression_functions import FunctionError

# The body may not contain "}}", so one match never spans two expressions (even with fullmatch).
EXPRESSION = re.compile(r"\$\{\{((?:(?!\}\}).)*)\}\}", re.DOTALL)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d+)?)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|<=|>=|&&|\|\||[<>!().,\[\]])
      | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)
ITEM_ROOTS = ("item", "item_index")  # only inside a for_each step: its instance's element and index
ROOTS = ("params", "steps", "run", "secrets", *ITEM_ROOTS, "trigger", "event")  # trigger, event: in spec.triggers only
MAX_LENGTH = 2000


class ExpressionError(ValueError):
    """An expression that does not parse, or a reference that cannot be resolved."""


@dataclass(frozen=True)
class Reference:
    """A dotted path such as ('steps', 'bump', 'outputs', 'version')."""

    path: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    """A call of one of the fixed functions, e.g. format('{0}-{1}', a, b)."""

    name: str
    args: tuple[Node, ...]


Node = Reference | Literal | Not | Binary | Call


def _tokens(text: str) -> list[tuple[str, str]]:
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ExpressionError(f"unexpected character {text[position:].strip()[:1]!r} at {position}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise ExpressionError("unexpected end of expression")
        if value is not None and token[1] != value:
            raise ExpressionError(f"expected {value!r}, found {token[1]!r}")
        self.index += 1
        return token

    def parse(self) -> Node:
        if not self.tokens:
            raise ExpressionError("empty expression")
        node = self.or_()
        if (extra := self.peek()) is not None:
            raise ExpressionError(f"unexpected {extra[1]!r}")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            node = Binary("||", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.peek() == ("op", "&&"):
            self.take()
            node = Binary("&&", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.peek() == ("op", "!"):
            self.take()
            return Not(self.not_())
        return self.comparison()

    def comparison(self) -> Node:
        node = self.primary()
        token = self.peek()
        if token and token[0] == "op" and token[1] in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            node = Binary(token[1], node, self.primary())
        return node

    def primary(self) -> Node:
        kind, value = self.take()
        if kind == "number":
            return Literal(float(value) if "." in value else int(value))
        if kind == "string":
            return Literal(re.sub(r"\\(.)", r"\1", value[1:-1]))
        if value == "(":
            node = self.or_()
            self.take(")")
            return node
        if kind == "name":
            if value in ("true", "false"):
                return Literal(value == "true")
            if value == "null":
                return Literal(None)
            if self.peek() == ("op", "("):
                return self.call(value)
            if value not in ROOTS:
                raise ExpressionError(f"unknown name {value!r}: references start with {', '.join(ROOTS)}")
            return Reference(self.path(value))
        raise ExpressionError(f"unexpected {value!r}")

    def call(self, name: str) -> Call:
        self.take("(")
        args: list[Node] = []
        if self.peek() != ("op", ")"):
            args.append(self.or_())
            while self.peek() == ("op", ","):
                self.take()
                args.append(self.or_())
        self.take(")")
        try:
            expression_functions.check_call(name, len(args))
        except FunctionError as error:
            raise ExpressionError(str(error)) from None
        return Call(name, tuple(args))

    def path(self, root: str) -> tuple[str, ...]:
        parts = [root]
        while (token := self.peek()) and token[1] in (".", "["):
            self.take()
            if token[1] == ".":
                kind, value = self.take()
                if kind not in ("name", "number"):
                    raise ExpressionError(f"expected a name after '.', found {value!r}")
                parts.append(value)
            else:
                kind, value = self.take()
                if kind not in ("string", "number"):
                    raise ExpressionError("expected a string or number inside [ ]")
                parts.append(value[1:-1] if kind == "string" else value)
                self.take("]")
        return tuple(parts)


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Node:
    """Parse one expression (the text inside `${{ }}`). The trees are immutable, so one is shared by every
    step written with the same text (a generated 10,000-step workflow repeats a few expressions)."""
    return _Parser(text).parse()


def references(node: Node) -> Iterator[Reference]:
    """Every reference in an expression tree."""
    if isinstance(node, Reference):
        yield node
    elif isinstance(node, Not):
        yield from references(node.operand)
    elif isinstance(node, Binary):
        yield from references(node.left)
        yield from references(node.right)
    elif isinstance(node, Call):
        for arg in node.args:
            yield from references(arg)


def calls(node: Node) -> Iterator[Call]:
    """Every function call in an expression tree."""
    if isinstance(node, Call):
        yield node
        for arg in node.args:
            yield from calls(arg)
    elif isinstance(node, Not):
        yield from calls(node.operand)
    elif isinstance(node, Binary):
        yield from calls(node.left)
        yield from calls(node.right)


def lookup(reference: Reference, scope: Mapping[str, Any]) -> Any:
    """The value a reference names in `scope`; ExpressionError when it is missing."""
    value: Any = scope
    for depth, part in enumerate(reference.path):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            missing = ".".join(reference.path[: depth + 1])
            raise ExpressionError(f"{reference} cannot be resolved: {missing} does not exist")
    return value


def evaluate(node: Node, scope: Mapping[str, Any]) -> Any:
    """Evaluate an expression tree against plain data (no Python objects are reachable)."""
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Reference):
        return lookup(node, scope)
    if isinstance(node, Not):
        return not truthy(evaluate(node.operand, scope))
    if isinstance(node, Call):
        try:
            return expression_functions.call(node.name, [evaluate(arg, scope) for arg in node.args], scope)
        except FunctionError as error:
            raise ExpressionError(str(error)) from None
    if node.op == "&&":
        return truthy(evaluate(node.left, scope)) and truthy(evaluate(node.right, scope))
    if node.op == "||":
        return truthy(evaluate(node.left, scope)) or truthy(evaluate(node.right, scope))
    left, right = evaluate(node.left, scope), evaluate(node.right, scope)
    if node.op == "==":
        return left == right
    if node.op == "!=":
        return left != right
    try:
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[node.op]
    except TypeError:
        raise ExpressionError(f"cannot compare {type(left).__name__} with {type(right).__name__}") from None


def truthy(value: Any) -> bool:
    """JSON truthiness: null, false, 0, '' and empty collections are false."""
    return bool(value)


def expressions_in(text: str) -> list[str]:
    """The expression texts of every `${{ }}` in a string."""
    return [match.group(1) for match in EXPRESSION.finditer(text)]


def render(value: Any, scope: Mapping[str, Any]) -> Any:
    """Resolve every `${{ }}` in a JSON value.

    A string that is exactly one expression keeps the value's type (a number
    stays a number); otherwise results are joined into the text.
    """
    if isinstance(value, str):
        whole = EXPRESSION.fullmatch(value.strip())
        if whole:
            return evaluate(parse(whole.group(1)), scope)
        return EXPRESSION.sub(lambda m: as_text(evaluate(parse(m.group(1)), scope)), value)
    if isinstance(value, list):
        return [render(item, scope) for item in value]
    if isinstance(value, dict):
        return {key: render(item, scope) for key, item in value.items()}
    return value


def condition(text: str, scope: Mapping[str, Any]) -> bool:
    """Evaluate an `if:` condition, written with or without the `${{ }}` wrapper."""
    whole = EXPRESSION.fullmatch(text.strip())
    return truthy(evaluate(parse(whole.group(1) if whole else text), scope))


def condition_expression(text: str) -> str:
    """The expression text of an `if:` value (unwrapping `${{ }}` when present)."""
    whole = EXPRESSION.fullmatch(text.strip())
    return whole.group(1) if whole else text


def as_text(value: Any) -> str:
    """A value as `${{ }}` puts it into text: null is empty, booleans are true/false, JSON otherwise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def contains_expression(value: Any) -> bool:
    """Whether a JSON value holds a `${{ }}` anywhere."""
    if isinstance(value, str):
        return "${{" in value
    if isinstance(value, list):
        return any(contains_expression(item) for item in value)
    if isinstance(value, dict):
        return any(contains_expression(item) for item in value.values())
    return False


def holds_expression(value: Any, at: str) -> bool:
    """Whether the field at JSON pointer `at` inside `value` holds a `${{ }}` (checked after resolution, not now)."""
    for part in tokens(at):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False
    return contains_expression(value)


def strings_in(value: Any, path: tuple[object, ...]) -> Iterator[tuple[tuple[object, ...], str]]:
    """Every text inside a JSON value, with its path below `path`."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings_in(item, (*path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(item, (*path, key))
