"""The safe expression language: references, literals, operators, and what it refuses."""

import pytest
from vwmp_engine import expressions
from vwmp_engine.expressions import ExpressionError

SCOPE = {
    "params": {"part": "minor", "count": 3, "flag": True},
    "steps": {"bump": {"outputs": {"version": "0.5.0", "files": ["a", "b"]}, "state": "succeeded"}},
    "run": {"id": "r1", "dry_run": False},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params.part == 'minor'", True),
        ("params.part != 'patch' && params.count > 2", True),
        ("!params.flag || params.count >= 4", False),
        ("steps.bump.state == \"succeeded\"", True),
        ("steps.bump.outputs.files[1] == 'b'", True),
        ("(params.count < 3) || run.dry_run", False),
        ("null == null", True),
        ("1.5 < 2", True),
    ],
)
def test_conditions_evaluate_like_a_user_expects(text: str, expected: bool) -> None:
    assert expressions.condition(text, SCOPE) is expected
    assert expressions.condition("${{ " + text + " }}", SCOPE) is expected


def test_a_whole_string_reference_keeps_its_type_and_mixed_text_interpolates() -> None:
    assert expressions.render("${{ params.count }}", SCOPE) == 3
    assert expressions.render("v${{ steps.bump.outputs.version }}", SCOPE) == "v0.5.0"
    assert expressions.render({"a": ["${{ params.flag }}"]}, SCOPE) == {"a": [True]}


def test_a_missing_reference_says_which_part_is_missing() -> None:
    with pytest.raises(ExpressionError, match=r"steps\.nope does not exist"):
        expressions.render("${{ steps.nope.outputs.x }}", SCOPE)


@pytest.mark.parametrize(
    "hostile",
    [
        "__import__('os').system('id')",
        "params.__class__",
        "params.part.upper()",
        "open('/etc/passwd')",
        "1 + 1",
        "params.part; rm -rf /",
        "'unterminated",
        "",
        "x" * 3000,
    ],
)
def test_anything_outside_the_grammar_is_refused_not_evaluated(hostile: str) -> None:
    with pytest.raises(ExpressionError):
        expressions.condition(hostile, SCOPE)


def test_python_attributes_are_not_reachable_through_references() -> None:
    with pytest.raises(ExpressionError):
        expressions.render("${{ params.part.__class__ }}", SCOPE)


def test_references_lists_every_reference() -> None:
    tree = expressions.parse("params.a == steps.b.outputs.c || !run.id")
    assert [str(r) for r in expressions.references(tree)] == ["params.a", "steps.b.outputs.c", "run.id"]


def test_a_string_starting_and_ending_with_expressions_renders_each_one() -> None:
    assert expressions.render("${{ params.count }} / ${{ params.part }}", SCOPE) == "3 / minor"
    assert expressions.expressions_in("${{ a }}-${{ b }}") == [" a ", " b "]
