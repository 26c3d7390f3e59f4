"""spec.triggers: validation with pointers, and when schedules fire (time zones, DST, every)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from vwmp_engine.core_steps import CORE_STEP_TYPES
from vwmp_engine.triggers.checks import completion_loop_problems
from vwmp_engine.triggers.spec import Schedule, ScheduleError, TriggerSpec
from vwmp_engine.validation import validate_definition

PARAMETERS = {"type": "object", "required": ["part"],
              "properties": {"part": {"enum": ["major", "minor", "patch"]}, "repo": {"type": "string"},
                             "ref": {"type": "string"}, "count": {"type": "integer"}}}


def workflow(*triggers: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": "demo"},
            "spec": {"parameters": PARAMETERS, "steps": [{"id": "a", "uses": "core/noop"}], "triggers": list(triggers)}}


def errors(*triggers: dict[str, Any]) -> dict[str, str]:
    return {p.pointer: p.message for p in validate_definition(workflow(*triggers), CORE_STEP_TYPES.get)}


def test_the_issue_example_is_valid() -> None:
    assert errors(
        {"id": "nightly", "schedule": {"cron": "0 3 * * 1-5", "timezone": "Europe/Berlin"},
         "overlap": "skip", "catchup": "latest", "parameters": {"part": "patch"}},
        {"id": "on-push", "webhook": {"provider": "github", "secret": "${{ secrets.RELEASE_HOOK }}",
                                      "filter": "${{ event.ref == 'refs/heads/main' }}"},
         "parameters": {"repo": "shop", "ref": "${{ event.after }}", "part": "patch"}},
        {"id": "after-build", "on_run": {"workflow": "build", "states": ["succeeded"]},
         "parameters": {"part": "minor", "ref": "${{ trigger.run.outputs.version }}"}},
        {"id": "tick", "schedule": {"every": "30s"},
         "parameters": {"part": "patch", "repo": "${{ trigger.scheduled_at }}"}},
    ) == {}


def test_duplicate_ids_bad_cron_and_unknown_time_zone_point_at_their_fields() -> None:
    found = errors(
        {"id": "a", "schedule": {"cron": "61 3 * * *"}, "parameters": {"part": "patch"}},
        {"id": "a", "schedule": {"cron": "0 3 * *"}, "parameters": {"part": "patch"}},
        {"id": "b", "schedule": {"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "parameters": {"part": "patch"}},
    )
    assert "duplicate trigger id 'a'" in found["/spec/triggers/1/id"]
    assert "not a valid cron" in found["/spec/triggers/0/schedule/cron"]
    assert "five-field" in found["/spec/triggers/1/schedule/cron"]
    assert "IANA" in found["/spec/triggers/2/schedule/timezone"]


def test_shape_errors_a_trigger_needs_exactly_one_kind() -> None:
    found = errors({"id": "x", "parameters": {"part": "patch"}},
                   {"id": "y", "schedule": {"every": "1s"}, "on_run": {"workflow": "b"}})
    assert "/spec/triggers/0" in found
    assert "/spec/triggers/1" in found


def test_literal_parameters_are_checked_against_the_parameter_schema() -> None:
    found = errors({"id": "a", "schedule": {"every": "1m"},
                    "parameters": {"part": "huge", "count": "${{ trigger.id }}"}},
                   {"id": "b", "schedule": {"every": "1m"}, "parameters": {"repo": "x"}})
    assert "/spec/triggers/0/parameters/part" in found
    assert "/spec/triggers/0/parameters/count" not in found  # an expression: checked when it fires
    assert "part" in found["/spec/triggers/1/parameters/part"] or "/spec/triggers/1/parameters" in found


def test_references_are_checked_per_kind_and_secrets_must_be_references() -> None:
    found = errors(
        {"id": "a", "schedule": {"every": "1m"}, "parameters": {"part": "patch", "ref": "${{ event.after }}"}},
        {"id": "b", "webhook": {"provider": "gitea", "secret": "hunter2"}, "parameters": {"part": "patch"}},
        {"id": "c", "on_run": {"workflow": "x"}, "parameters": {"part": "patch", "ref": "${{ trigger.scheduled_at }}"}},
        {"id": "d", "webhook": {"provider": "generic", "secret": "${{ secrets.S }}", "filter": "${{ params.x }}"},
         "parameters": {"part": "patch", "ref": "${{ secrets.S }}"}},
    )
    assert "only available to webhook" in found["/spec/triggers/0/parameters/ref"]
    assert "secret reference" in found["/spec/triggers/1/webhook/secret"]
    assert "trigger.run" in found["/spec/triggers/2/parameters/ref"]
    assert "/spec/triggers/3/webhook/filter" in found
    assert "/spec/triggers/3/parameters/ref" in found


def test_a_completion_chain_that_loops_back_is_reported() -> None:
    spec_a = {"triggers": [{"id": "after-c", "on_run": {"workflow": "c"}}]}
    others = {"b": {"triggers": [{"id": "after-a", "on_run": {"workflow": "a"}}]},
              "c": {"triggers": [{"id": "after-b", "on_run": {"workflow": "b"}}]}}
    problems = completion_loop_problems("a", spec_a, others)
    assert [p.pointer for p in problems] == ["/spec/triggers/0/on_run/workflow"]
    assert problems[0].message == "completion triggers loop: c → a → b → c"
    assert completion_loop_problems("a", {"triggers": [{"id": "me", "on_run": {"workflow": "a"}}]}, {})
    assert completion_loop_problems("a", spec_a, {"c": {}}) == []


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_cron_is_read_in_its_time_zone() -> None:
    nightly = Schedule(cron="0 3 * * 1-5", timezone="Europe/Berlin")
    # Friday 2026-01-09 03:00 CET is 02:00 UTC; the next after it is Monday.
    assert nightly.next_after(utc(2026, 1, 8, 12)) == utc(2026, 1, 9, 2)
    assert nightly.next_after(utc(2026, 1, 9, 2)) == utc(2026, 1, 12, 2)
    # In summer Berlin is UTC+2.
    assert nightly.next_after(utc(2026, 7, 1, 12)) == utc(2026, 7, 2, 1)


def test_spring_forward_a_missing_local_time_fires_once_after_the_gap() -> None:
    # Europe/Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
    daily = Schedule(cron="30 2 * * *", timezone="Europe/Berlin")
    ticks = list(_take(daily.ticks_after(utc(2026, 3, 27, 12)), 3))
    assert ticks == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]
    hourly = Schedule(cron="0 * * * *", timezone="Europe/Berlin")
    around = list(_take(hourly.ticks_after(utc(2026, 3, 28, 23, 30)), 3))
    assert around == [utc(2026, 3, 29, 0), utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)]  # 01:00 CET, 03:00, 04:00 CEST


def test_fall_back_a_repeated_local_time_fires_once() -> None:
    # Europe/Berlin 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    daily = Schedule(cron="30 2 * * *", timezone="Europe/Berlin")
    ticks = list(_take(daily.ticks_after(utc(2026, 10, 23, 12)), 3))
    assert ticks == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
    hourly = Schedule(cron="0 * * * *", timezone="Europe/Berlin")
    around = list(_take(hourly.ticks_after(utc(2026, 10, 24, 23, 30)), 4))
    # 02:00 CEST (00:00 UTC), 03:00 CET (02:00 UTC): the second 02:00 (01:00 UTC) is not fired again
    assert around == [utc(2026, 10, 25, 0), utc(2026, 10, 25, 2), utc(2026, 10, 25, 3), utc(2026, 10, 25, 4)]
    assert len(set(around)) == len(around)


def test_every_ticks_on_multiples_of_the_interval_and_latest_due() -> None:
    every = Schedule(every=2.0)
    assert every.next_after(utc(2026, 1, 1, 0, 0, 1)) == utc(2026, 1, 1, 0, 0, 2)
    assert every.next_after(utc(2026, 1, 1, 0, 0, 2)) == utc(2026, 1, 1, 0, 0, 4)
    assert every.latest_due(utc(2026, 1, 1), utc(2026, 1, 1, 0, 1, 5)) == utc(2026, 1, 1, 0, 1, 4)
    assert every.latest_due(utc(2026, 1, 1, 0, 1, 4), utc(2026, 1, 1, 0, 1, 5)) is None
    cron = Schedule(cron="*/5 * * * *")
    assert cron.latest_due(utc(2026, 1, 1), utc(2026, 1, 1, 1, 7)) == utc(2026, 1, 1, 1, 5)
    assert cron.latest_due(utc(2026, 1, 1, 1, 5), utc(2026, 1, 1, 1, 7)) is None
    every_minute = Schedule(cron="* * * * *", timezone="Europe/Berlin")  # two years down: one step back, not 10^6
    assert every_minute.latest_due(utc(2024, 1, 1), utc(2026, 6, 1, 12, 30, 15)) == utc(2026, 6, 1, 12, 30)
    berlin = Schedule(cron="30 2 * * *", timezone="Europe/Berlin")  # the spring-forward night: 02:30 is 03:30 CEST
    assert berlin.latest_due(utc(2026, 3, 1), utc(2026, 3, 29, 2)) == utc(2026, 3, 29, 1, 30)
    assert berlin.latest_due(utc(2026, 3, 1), utc(2026, 3, 29, 1, 29)) == utc(2026, 3, 28, 1, 30)
    hourly = Schedule(cron="0 * * * *", timezone="Europe/Berlin")  # the second 02:00 of fall back is not a tick
    assert hourly.latest_due(utc(2026, 10, 1), utc(2026, 10, 25, 1, 30)) == utc(2026, 10, 25, 0)


def test_a_schedule_without_a_usable_rule_is_refused() -> None:
    with pytest.raises(ScheduleError):
        Schedule.from_dict({"cron": "nope"})
    with pytest.raises(ScheduleError):
        Schedule.from_dict({"cron": "0 0 * * *", "timezone": "Nowhere/Else"})
    spec = TriggerSpec.from_dict({"id": "t", "schedule": {"every": "30s"}})
    assert spec.kind == "schedule" and spec.schedule == Schedule(every=30.0) and spec.overlap == "skip"
    assert spec.digest != TriggerSpec.from_dict({"id": "t", "schedule": {"every": "31s"}}).digest


def _take(ticks: Any, count: int) -> list[datetime]:
    return [next(ticks) for _ in range(count)]


def test_ticks_after_is_strictly_after() -> None:
    hourly = Schedule(cron="0 * * * *", timezone="UTC")
    start = utc(2026, 5, 1, 10)
    assert hourly.next_after(start) == start + timedelta(hours=1)
