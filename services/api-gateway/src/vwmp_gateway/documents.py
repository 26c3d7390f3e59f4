"""Request documents (workflow definitions) from JSON or YAML, loaded defensively.

YAML is parsed with the safe loader plus three guards a hostile client forces on us: duplicate keys
are refused (the later one would silently win), alias expansion is bounded (a "billion laughs"
document is tiny as YAML but explodes when turned into JSON), and nesting depth is bounded.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Any

import yaml
import yaml.reader
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vwmp_gateway.problems import Problem

MAX_EXPANDED_NODES = 1_000_000  # a 10,000-step definition with configs is a few hundred thousand
MAX_DEPTH = 64
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and keeps timestamps as text (JSON has no dates)."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        # The stubs promise a MappingNode, but a `!!map` tag on a scalar gets here too: the base refuses it.
        if isinstance(node, MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:
                    raise ConstructorError(None, None, "a mapping key must be a scalar", key_node.start_mark) from None
                if duplicate:
                    raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _timestamp_as_text(loader: yaml.SafeLoader, node: Node) -> str:
    if not isinstance(node, ScalarNode):  # an explicit `!!timestamp` tag can sit on anything
        raise ConstructorError(None, None, "a timestamp must be a scalar", node.start_mark)
    return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _bad(kind: str, message: str, line: int | None = None, column: int | None = None) -> Problem:
    where = f" at line {line}, column {column}" if line is not None else ""
    extra = {"line": line, "column": column} if line is not None else {}
    return Problem(400, f"Invalid {kind}{where}: {message}", title=f"Invalid {kind}", kind="bad-document", extra=extra)


def _check_expansion(root: Node) -> None:
    """Refuse cycles, deep nesting and alias bombs: count nodes as JSON would expand them."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node: Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _bad("YAML", f"nesting deeper than {MAX_DEPTH} levels", node.start_mark.line + 1,
                       node.start_mark.column + 1)
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in visiting:
            raise _bad("YAML", "recursive alias", node.start_mark.line + 1, node.start_mark.column + 1)
        visiting.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            for child in node.value:
                total += size(child, depth + 1)
        elif isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                total += size(key_node, depth + 1) + size(value_node, depth + 1)
        if total > MAX_EXPANDED_NODES:
            raise _bad("YAML", f"document expands to more than {MAX_EXPANDED_NODES} nodes (alias bomb?)",
                       node.start_mark.line + 1, node.start_mark.column + 1)
        visiting.discard(key)
        sizes[key] = total
        return total

    size(root, 0)


def load_yaml(text: str) -> Any:
    """Parse one YAML document safely; Problem 400 with line/column when it is not acceptable."""
    try:
        loader = _Loader(text)  # the reader refuses non-printable characters right here
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise _bad("YAML", f"character U+{exc.character:04X} is not allowed in YAML", line, column) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise _bad("YAML", "the document is empty")
        _check_expansion(node)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(part for part in (exc.context, exc.problem) if part) or "not valid YAML"
        if mark is None:
            raise _bad("YAML", message) from None
        raise _bad("YAML", message, mark.line + 1, mark.column + 1) from None
    except yaml.YAMLError as exc:
        raise _bad("YAML", str(exc)) from None
    except RecursionError:
        raise _bad("YAML", "nesting too deep") from None
    finally:
        loader.dispose()
    try:
        json.dumps(data)
    except (TypeError, ValueError):
        raise _bad("YAML", "the document holds values JSON cannot represent (binary, sets, ...)") from None
    return data


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_json(text: str) -> Any:
    """Parse JSON strictly (no duplicate keys, no NaN); Problem 400 with line/column otherwise."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise _bad("JSON", exc.msg, exc.lineno, exc.colno) from None
    except ValueError as exc:
        raise _bad("JSON", str(exc)) from None
    except RecursionError:
        raise _bad("JSON", "nesting too deep") from None


def is_yaml(content_type: str | None) -> bool:
    """Whether a Content-Type names YAML."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in YAML_TYPES


def load_document(body: bytes, content_type: str | None) -> dict[str, Any]:
    """A JSON object from a request body in JSON or YAML (by Content-Type)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(400, f"The body is not UTF-8 (byte {exc.start})", kind="bad-document") from None
    if not text.strip():
        raise Problem(400, "The body is empty; send a workflow definition", kind="bad-document")
    data = load_yaml(text) if is_yaml(content_type) else load_json(text)
    if not isinstance(data, dict):
        raise Problem(400, "The document must be an object (a mapping)", kind="bad-document")
    return data
