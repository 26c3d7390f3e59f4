"""RFC 6901 pointers: escaping round-trips, and the RFC's own examples."""

from __future__ import annotations

import pytest
from vwmp_common.json_pointer import escape, pointer, tokens, unescape


def test_tilde_is_escaped_before_slash_so_no_key_is_read_back_wrong() -> None:
    assert escape("a/b") == "a~1b"
    assert escape("m~n") == "m~0n"
    assert escape("~1") == "~01", "a literal '~1' must not read back as '/'"
    assert unescape("~01") == "~1"


@pytest.mark.parametrize("key", ["", "plain", "a/b", "m~n", "~1", "~0/~", "/", "~"])
def test_every_key_round_trips(key: str) -> None:
    assert unescape(escape(key)) == key
    assert tokens(pointer("spec", key)) == ["spec", key]


def test_pointers_of_paths_with_indexes_and_the_whole_document() -> None:
    assert pointer() == ""
    assert pointer("spec", "steps", 0, "with") == "/spec/steps/0/with"
    assert pointer(*("step_defaults", "git/push")) == "/step_defaults/git~1push"
    assert pointer("") == "/", "the empty key is a key (RFC 6901 section 5)"


def test_tokens_of_the_rfc_examples_and_a_malformed_pointer() -> None:
    assert tokens("") == []
    assert tokens("/a~1b") == ["a/b"]
    assert tokens("/m~0n/0") == ["m~n", "0"]
    with pytest.raises(ValueError, match="must be empty or start with '/'"):
        tokens("spec/steps")
