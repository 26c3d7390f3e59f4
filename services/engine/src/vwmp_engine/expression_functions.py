"""The functions of `${{ }}` expressions: plain functions over JSON data, with bounded results.

String tests (`contains`, `startsWith`, `endsWith`) ignore case, as in GitHub Actions. Status
functions (`success()`, `failure()`, `cancelled()`, `always()`) read the step's needs from the
evaluation scope and exist only in `if:` conditions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_TEXT = 256 * 1024  # characters of any text a function returns
MAX_ITEMS = 10_000  # elements of any list a function returns
STATUS_SCOPE = "\x00status"  # scope key of the needs' outcome; no reference can name it
STATUS_FUNCTIONS = ("success", "failure", "cancelled", "always")


class FunctionError(ValueError):
    """A function called with values it cannot take, or a result over the bounds."""


@dataclass(frozen=True, slots=True)
class Function:
    """One function: how many arguments it takes and what it does with their values."""

    min_args: int
    max_args: int
    call: Callable[..., Any]

    def arity(self) -> str:
        if self.min_args == self.max_args:
            return f"{self.min_args} argument{'s' if self.min_args != 1 else ''}"
        return f"{self.min_args} to {self.max_args} arguments"


def _text(value: Any, function: str, position: int = 1) -> str:
    """A function's text argument: strings as they are, numbers and booleans as `${{ }}` writes them."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if value is None:
        return ""
    raise FunctionError(f"{function}(): argument {position} must be text, got {_kind(value)}")


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _bounded(value: Any, function: str) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise FunctionError(f"{function}(): the result is longer than {MAX_TEXT} characters")
    if isinstance(value, list) and len(value) > MAX_ITEMS:
        raise FunctionError(f"{function}(): the result has more than {MAX_ITEMS} elements")
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    return bool(a == b)


def _contains(haystack: Any, needle: Any) -> bool:
    if isinstance(haystack, list):
        return any(_same(item, needle) for item in haystack)
    return _text(needle, "contains", 2).casefold() in _text(haystack, "contains").casefold()


def _starts_with(text: Any, prefix: Any) -> bool:
    return _text(text, "startsWith").casefold().startswith(_text(prefix, "startsWith", 2).casefold())


def _ends_with(text: Any, suffix: Any) -> bool:
    return _text(text, "endsWith").casefold().endswith(_text(suffix, "endsWith", 2).casefold())


_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(\d+)\}|[{}]")


def _format(template: Any, *values: Any) -> str:
    """`format('{0}-{1}', a, b)`; `{{` and `}}` are literal braces."""
    text = _text(template, "format")

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        if match.group(1) is None:
            raise FunctionError(f"format(): a lone {token!r} in the template (write {token * 2!r} for a brace)")
        index = int(match.group(1))
        if index >= len(values):
            raise FunctionError(f"format(): the template uses {{{index}}} but only {len(values)} values follow it")
        return _as_text(values[index])

    return _PLACEHOLDER.sub(replace, text)


def _as_text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return _text(value, "format")


def _join(items: Any, separator: Any = ",") -> str:
    sep = _text(separator, "join", 2)
    if not isinstance(items, list):
        return _text(items, "join")
    return sep.join(_as_text(item) for item in items)


def _split(text: Any, separator: Any = ",") -> list[str]:
    sep = _text(separator, "split", 2)
    if sep == "":
        raise FunctionError("split(): the separator must not be empty")
    return _text(text, "split").split(sep, MAX_ITEMS)


def _to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _from_json(text: Any) -> Any:
    source = _text(text, "fromJSON")
    if len(source) > MAX_TEXT:
        raise FunctionError(f"fromJSON(): the text is longer than {MAX_TEXT} characters")
    try:
        return json.loads(source)
    except ValueError as error:
        raise FunctionError(f"fromJSON(): not JSON: {error}") from None


def _length(value: Any) -> int:
    if isinstance(value, (str, list, dict)):
        return len(value)
    if value is None:
        return 0
    raise FunctionError(f"length(): takes text, a list or an object, got {_kind(value)}")


FUNCTIONS: dict[str, Function] = {
    "contains": Function(2, 2, _contains),
    "startsWith": Function(2, 2, _starts_with),
    "endsWith": Function(2, 2, _ends_with),
    "format": Function(1, 20, _format),
    "join": Function(1, 2, _join),
    "split": Function(1, 2, _split),
    "toJSON": Function(1, 1, _to_json),
    "fromJSON": Function(1, 1, _from_json),
    "length": Function(1, 1, _length),
    "lower": Function(1, 1, lambda v: _text(v, "lower").lower()),
    "upper": Function(1, 1, lambda v: _text(v, "upper").upper()),
    "trim": Function(1, 1, lambda v: _text(v, "trim").strip()),
    **{name: Function(0, 0, lambda: None) for name in STATUS_FUNCTIONS},  # read from the scope instead
}


def check_call(name: str, count: int) -> None:
    """FunctionError unless `name` is a function that takes `count` arguments (checked when parsing)."""
    function = FUNCTIONS.get(name)
    if function is None:
        near = [known for known in FUNCTIONS if known.casefold() == name.casefold()]
        hint = f" (did you mean {near[0]}?)" if near else f" (one of {', '.join(FUNCTIONS)})"
        raise FunctionError(f"unknown function {name!r}{hint}")
    if not function.min_args <= count <= function.max_args:
        raise FunctionError(f"{name}() takes {function.arity()}, got {count}")


def call(name: str, values: list[Any], scope: Mapping[str, Any]) -> Any:
    """Call a function on evaluated arguments; status functions read the needs' outcome from `scope`."""
    if name in STATUS_FUNCTIONS:
        status = scope.get(STATUS_SCOPE)
        if not isinstance(status, Mapping):
            raise FunctionError(f"{name}() is only available in if: conditions")
        return True if name == "always" else bool(status.get(name))
    return _bounded(FUNCTIONS[name].call(*values), name)
