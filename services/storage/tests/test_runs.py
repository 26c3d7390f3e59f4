"""Runs, their steps, events and logs on both databases."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from vwmp_common.timeutil import iso
from vwmp_storage.definitions import NotLatest
from vwmp_storage.errors import InvalidArgument, NotFound
from vwmp_storage.runs import LogLine, Run, RunSearch
from vwmp_storage.storage import Storage


def test_create_run_queues_it_with_pending_steps_and_run_queued(storage: Storage, sample_definition: str) -> None:
    storage.definitions.create("release", sample_definition, "alice")
    run = storage.runs.create("release", 0, '{"part": "minor"}', True, "bob", [("z", "core/noop"), ("a", "git/tag")])
    assert (run.state, run.version, run.last_seq, run.dry_run) == ("queued", 1, 1, True)
    got = storage.runs.get(run.id)
    assert [(s.id, s.uses, s.state, s.attempt, s.outputs_json) for s in got.steps] == [
        ("z", "core/noop", "pending", 0, "{}"),
        ("a", "git/tag", "pending", 0, "{}"),
    ]
    assert json.loads(got.parameters_json) == {"part": "minor"}
    assert got.created_by == "bob" and got.started_at is None and got.created_at.tzinfo is not None
    [queued] = storage.runs.events(run.id)
    assert (queued.seq, queued.type) == (1, "run.queued")
    assert json.loads(queued.data_json) == {"trigger": {"id": None, "kind": "manual", "at": iso(got.created_at)}}


def test_run_pins_the_version_and_get_can_return_its_definition(storage: Storage) -> None:
    storage.definitions.create("wf", '{"v": 1}', "alice")
    storage.definitions.put("wf", '{"v": 2}', "alice", 1)
    old = storage.runs.create("wf", 1, "", False, "bob", [])
    latest = storage.runs.create("wf", 0, "", False, "bob", [])
    assert (old.version, latest.version) == (1, 2)
    storage.definitions.put("wf", '{"v": 3}', "alice", 2)
    assert json.loads(storage.runs.get(old.id, with_definition=True).definition_json) == {"v": 1}
    assert storage.runs.get(latest.id).definition_json == ""


def test_a_run_only_of_the_latest_version_is_refused_once_a_newer_one_is_saved(storage: Storage) -> None:
    storage.definitions.create("wf", '{"v": 1}', "alice")
    assert storage.runs.create("wf", 1, "", False, "bob", [], only_latest=True).version == 1
    storage.definitions.put("wf", '{"v": 2}', "alice", 1)
    with pytest.raises(NotLatest, match="version 1 is not the latest \\(version 2 is\\)") as refused:
        storage.runs.create("wf", 1, "", False, "bob", [], only_latest=True)
    assert refused.value.latest == 2
    assert storage.runs.list("wf")[1] == 1  # nothing written by the refusal
    with pytest.raises(NotFound):
        storage.runs.create("ghost", 1, "", False, "bob", [], only_latest=True)


def test_create_run_of_unknown_workflow_or_version_is_not_found(storage: Storage) -> None:
    with pytest.raises(NotFound):
        storage.runs.create("ghost", 0, "", False, "bob", [])
    storage.definitions.create("wf", '{"v": 1}', "alice")
    with pytest.raises(NotFound, match="no version 4"):
        storage.runs.create("wf", 4, "", False, "bob", [])


@pytest.mark.parametrize(
    ("steps", "parameters", "message"),
    [
        ([("a", "x/y"), ("a", "x/y")], "", "steps\\[1\\].id: duplicate"),
        ([("", "x/y")], "", "steps\\[0\\].id: required"),
        ([("a", "")], "", "steps\\[0\\].uses: required"),
        ([], "[1, 2]", "parameters_json: must be a JSON object"),
        ([], "{", "parameters_json: not valid JSON"),
    ],
)
def test_create_run_rejects_bad_input(
    storage: Storage, steps: list[tuple[str, str]], parameters: str, message: str
) -> None:
    storage.definitions.create("wf", '{"v": 1}', "alice")
    with pytest.raises(InvalidArgument, match=message):
        storage.runs.create("wf", 0, parameters, False, "bob", steps)


def test_get_unknown_run_is_not_found(storage: Storage) -> None:
    with pytest.raises(NotFound, match="run 'nope' not found"):
        storage.runs.get("nope")
    with pytest.raises(NotFound):
        storage.runs.events("nope")


def test_list_runs_newest_first_filtered_and_paginated(storage: Storage, new_run: Callable[..., Run]) -> None:
    first = new_run("one")
    second = new_run("two")
    third = new_run("one")
    runs, total = storage.runs.list()
    assert total == 3 and [r.id for r in runs] == [third.id, second.id, first.id]
    assert [s.id for s in runs[0].steps] == ["a", "b"]
    runs, total = storage.runs.list(workflow="one", limit=1)
    assert total == 2 and [r.id for r in runs] == [third.id]
    runs, total = storage.runs.list(workflow="one", limit=1, offset=1)
    assert [r.id for r in runs] == [first.id]
    assert storage.runs.list(state="running") == ([], 0)
    with pytest.raises(InvalidArgument, match="state: unknown run state"):
        storage.runs.list(state="exploded")


def test_events_after_and_limit(storage: Storage, new_run: Callable[..., Run]) -> None:
    from vwmp_storage.transitions import Transition

    run = new_run()
    storage.transitions.record(run.id, "", 0, [Transition(event_type="step.log", step_id="a") for _ in range(5)])
    assert [e.seq for e in storage.runs.events(run.id)] == [1, 2, 3, 4, 5, 6]
    assert [e.seq for e in storage.runs.events(run.id, after=2, limit=3)] == [3, 4, 5]
    assert storage.runs.events(run.id, after=6) == []


def test_a_log_line_with_a_nul_byte_is_stored_with_a_replacement_character(
    storage: Storage, new_run: Callable[..., Run]
) -> None:
    run = new_run()
    storage.runs.append_logs(run.id, [LogLine("a", 1, None, "stdout", "refs\x00tags")])
    assert [x.line for x in storage.runs.logs(run.id, "a")] == ["refs\ufffdtags"]


def test_step_logs_in_order_per_attempt(storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run()
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    storage.runs.append_logs(
        run.id,
        [
            LogLine("a", 1, at, "stdout", "first"),
            LogLine("a", 1, None, "stderr", "second"),
            LogLine("b", 1, None, "", "other step"),
            LogLine("a", 2, None, "info", "retry"),
        ],
    )
    assert [(x.attempt, x.stream, x.line) for x in storage.runs.logs(run.id, "a")] == [
        (1, "stdout", "first"),
        (1, "stderr", "second"),
        (2, "info", "retry"),
    ]
    assert storage.runs.logs(run.id, "a")[0].at == at
    assert [x.line for x in storage.runs.logs(run.id, "a", attempt=2)] == ["retry"]
    assert [x.stream for x in storage.runs.logs(run.id, "b")] == ["info"]
    with pytest.raises(InvalidArgument, match=r"lines\[0\].stream"):
        storage.runs.append_logs(run.id, [LogLine("a", 1, None, "tty", "x")])
    with pytest.raises(NotFound):
        storage.runs.append_logs("nope", [LogLine("a", 1, None, "info", "x")])


def test_run_search_by_parameter_value_actor_and_creation_time(storage: Storage, new_run: Callable[..., Run]) -> None:
    new_run("search")  # creates the workflow; parameters {"part": "patch"} by "tester"

    def create(parameters: dict, actor: str) -> Run:
        return storage.runs.create("search", 0, json.dumps(parameters), False, actor, [("a", "core/noop")])

    shop = create({"repo": "shop", "count": 3, "final": True, "odd.key's": "x"}, "ada")
    cart = create({"repo": "cart", "count": 30, "final": False}, "grace")
    nested = create({"repo": {"name": "shop"}, "count": 3.5}, "ada")

    def found(**search) -> list[str]:
        runs, total = storage.runs.list(search=RunSearch(**search))
        assert total == len(runs)
        return [run.id for run in runs]

    assert found(parameters=(("repo", "shop"),)) == [shop.id]  # a nested object is not the text 'shop'
    assert found(parameters=(("count", "3"),)) == [shop.id]
    assert found(parameters=(("count", "3.5"),)) == [nested.id]
    assert found(parameters=(("final", "true"),)) == [shop.id]
    assert found(parameters=(("final", "false"),)) == [cart.id]
    assert found(parameters=(("odd.key's", "x"),)) == [shop.id]
    assert found(parameters=(("repo", "shop"), ("count", "30"))) == []
    assert found(parameters=(("missing", "shop"),)) == []
    assert found(parameters=(("repo", "shop' OR '1'='1"),)) == []
    assert found(created_by="ada") == [nested.id, shop.id]
    assert found(created_by="ada", parameters=(("count", "3"),)) == [shop.id]
    assert found(created_after=cart.created_at) == [nested.id, cart.id]
    assert found(created_before=cart.created_at, created_by="ada") == [shop.id]
    with pytest.raises(InvalidArgument, match="parameters: at most 10"):
        storage.runs.list(search=RunSearch(parameters=tuple((f"p{i}", "x") for i in range(11))))
