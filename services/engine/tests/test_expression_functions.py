"""Expression functions: each with what a user expects and with the bad input it refuses."""

from typing import Any

import pytest
from vwmp_engine import expressions
from vwmp_engine.expression_functions import MAX_ITEMS, MAX_TEXT
from vwmp_engine.expressions import ExpressionError

SCOPE = {
    "params": {"repo": "Shop-API", "names": ["Ada", "Grace"], "csv": "a,b,,c", "doc": '{"x": [1, 2]}', "n": 7},
    "steps": {"bump": {"outputs": {"version": "0.5.0"}, "state": "succeeded"}},
    "run": {"id": "r1"},
}


def value(text: str) -> Any:
    return expressions.render("${{ " + text + " }}", SCOPE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("contains(params.repo, 'api')", True),  # strings: case-insensitive, as in GitHub Actions
        ("contains(params.names, 'grace')", True),
        ("contains(params.names, 'Linus')", False),
        ("startsWith(params.repo, 'shop')", True),
        ("endsWith(params.repo, '-API')", True),
        ("endsWith(params.repo, 'shop')", False),
        ("format('{0}-{1}', params.repo, steps.bump.outputs.version)", "Shop-API-0.5.0"),
        ("format('{{literal {0}', params.n)", "{literal 7"),  # `}}` would end the ${{ }} itself
        ("join(params.names, ', ')", "Ada, Grace"),
        ("join(params.names)", "Ada,Grace"),
        ("split(params.csv, ',')", ["a", "b", "", "c"]),
        ("toJSON(params.names)", '["Ada", "Grace"]'),
        ("fromJSON(params.doc).x[1]", None),  # not a path root: see the next test
        ("length(params.names)", 2),
        ("length(params.repo)", 8),
        ("lower(params.repo)", "shop-api"),
        ("upper(params.repo)", "SHOP-API"),
        ("trim('  v1  ')", "v1"),
        ("length(split(params.csv, ','))", 4),
        ("fromJSON(params.doc)", {"x": [1, 2]}),
        ("fromJSON('[1, 2]') == fromJSON('[1,2]')", True),
    ],
)
def test_each_function_does_what_a_user_expects(text: str, expected: Any) -> None:
    if text.startswith("fromJSON(params.doc).x"):
        with pytest.raises(ExpressionError):  # a call result is a value, not something to index into
            expressions.parse(text)
        return
    assert value(text) == expected


def test_functions_compose_in_conditions_and_text() -> None:
    assert expressions.condition("contains(params.names, 'ada') && length(params.names) == 2", SCOPE)
    assert expressions.render("tag ${{ format('v{0}', steps.bump.outputs.version) }}!", SCOPE) == "tag v0.5.0!"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lenght(params.names)", "unknown function 'lenght'"),
        ("startswith(params.repo, 'x')", "did you mean startsWith?"),
        ("contains(params.repo)", "contains() takes 2 arguments, got 1"),
        ("trim()", "trim() takes 1 argument, got 0"),
        ("join(params.names, ',', 'x')", "join() takes 1 to 2 arguments, got 3"),
        ("format('{0}', 1", "unexpected end of expression"),
        ("format(, 1)", "unexpected ','"),
    ],
)
def test_unknown_functions_and_wrong_arity_are_refused_when_parsing(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        expressions.parse(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("format('{0}-{1}', 'a')", "uses {1} but only 1 values follow it"),
        ("format('{', 'a')", "a lone '{' in the template"),
        ("fromJSON('{not json')", "fromJSON(): not JSON"),
        ("length(params.n)", "length(): takes text, a list or an object, got int"),
        ("lower(params.names)", "lower(): argument 1 must be text, got a list"),
        ("split(params.csv, '')", "split(): the separator must not be empty"),
        ("startsWith(params.repo, params.names)", "startsWith(): argument 2 must be text, got a list"),
        ("success()", "success() is only available in if: conditions"),
    ],
)
def test_bad_values_are_clear_errors_never_a_crash(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as raised:
        value(text)
    assert message in str(raised.value)


def test_results_are_bounded() -> None:
    big = {"params": {"t": "x" * (MAX_TEXT - 10), "many": ",".join(["a"] * (MAX_ITEMS + 5)),
                      "list": ["y" * 100] * 5000}}
    with pytest.raises(ExpressionError, match="longer than"):
        expressions.render("${{ format('{0}{0}', params.t) }}", big)
    with pytest.raises(ExpressionError, match=f"more than {MAX_ITEMS} elements"):
        expressions.render("${{ split(params.many, ',') }}", big)
    with pytest.raises(ExpressionError, match="longer than"):
        expressions.render("${{ toJSON(params.list) }}", big)


def test_no_python_is_reachable_through_functions() -> None:
    for hostile in ("__import__('os')", "format.__globals__", "lower(params.repo).upper()", "eval('1')"):
        with pytest.raises(ExpressionError):
            value(hostile)
