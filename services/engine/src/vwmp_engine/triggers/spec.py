"""A definition's `spec.triggers` as the engine uses them, and when a schedule fires.

Cron fields are read in the trigger's time zone by croniter over naive local times, then mapped
to UTC with zoneinfo. At a DST change: a local time that does not exist (spring forward) fires at
the same distance after the gap's start (02:30 → 03:30), a local time that exists twice (fall
back) fires once, at its first occurrence. `every:` ticks are whole multiples of the interval
since the Unix epoch, so every replica computes the same ticks.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, croniter

from vwmp_engine.definition import duration_seconds

KINDS = ("schedule", "webhook", "on_run")
# Searching this many cron matches without reaching a time is a cron that (almost) never fires.
_MAX_CRON_STEPS = 200_000


class ScheduleError(ValueError):
    """A schedule that cannot be used: a bad cron, an unknown time zone, a zero interval."""


def parse_cron(expression: str) -> None:
    """Raise ScheduleError unless `expression` is a five-field cron croniter accepts."""
    if len(expression.split()) != 5:
        raise ScheduleError(f"{expression!r} is not a five-field cron (minute hour day-of-month month day-of-week)")
    try:
        croniter(expression, datetime(2000, 1, 1))
    except (CroniterBadCronError, CroniterNotAlphaError, CroniterBadDateError, ValueError, KeyError) as error:
        raise ScheduleError(f"{expression!r} is not a valid cron: {error}") from None


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; ScheduleError when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ScheduleError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin, UTC): {error}") from None


@dataclass(frozen=True)
class Schedule:
    """A cron in a time zone, or a fixed interval."""

    cron: str | None = None
    timezone: str = "UTC"
    every: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        every = duration_seconds(data.get("every"))
        schedule = cls(cron=data.get("cron"), timezone=str(data.get("timezone") or "UTC"), every=every)
        if schedule.cron is not None:
            parse_cron(schedule.cron)
            time_zone(schedule.timezone)
        elif every is None or every <= 0:
            raise ScheduleError("a schedule needs a cron or a positive every")
        return schedule

    def next_after(self, after: datetime) -> datetime:
        """The first tick strictly after `after` (aware, UTC)."""
        return next(self.ticks_after(after))

    def ticks_after(self, after: datetime) -> Iterator[datetime]:
        """The ticks strictly after `after`, in order (aware, UTC)."""
        after = after.astimezone(UTC)
        if self.every is not None:
            epoch = after.timestamp()
            index = math.floor(epoch / self.every) + 1
            while True:
                yield datetime.fromtimestamp(index * self.every, UTC)
                index += 1
        assert self.cron is not None
        zone = time_zone(self.timezone)
        # Start an hour early in local wall time: a gap or a repeated hour can map a local match
        # that precedes `after` on the wall clock to an instant after it.
        local = after.astimezone(zone).replace(tzinfo=None) - timedelta(hours=2)
        matches = croniter(self.cron, local)
        last = after
        for _ in range(_MAX_CRON_STEPS):
            naive: datetime = matches.get_next(datetime)
            instant = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
            # fold=0 maps a local time in a gap past it (02:30 → 03:30) and a repeated one to its first occurrence.
            if instant > last:
                last = instant
                yield instant
        raise ScheduleError(f"{self.cron!r} has no tick within {_MAX_CRON_STEPS} matches")

    def latest_due(self, after: datetime, now: datetime) -> datetime | None:
        """The last tick in (after, now], or None when there is none."""
        if self.every is not None:
            tick = datetime.fromtimestamp(math.floor(now.timestamp() / self.every) * self.every, UTC)
            return tick if tick > after else None
        assert self.cron is not None
        zone = time_zone(self.timezone)
        # Walk back from a little after now in wall time (a DST change moves wall time by an hour):
        # the first match that maps to `now` or earlier is the latest tick, however long the downtime.
        matches = croniter(self.cron, now.astimezone(zone).replace(tzinfo=None) + timedelta(hours=2))
        for _ in range(_MAX_CRON_STEPS):
            naive: datetime = matches.get_prev(datetime)
            instant = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
            if instant <= now:
                return instant if instant > after else None
        raise ScheduleError(f"{self.cron!r} has no tick within {_MAX_CRON_STEPS} matches")


@dataclass(frozen=True)
class TriggerSpec:
    """One entry of `spec.triggers`."""

    id: str
    kind: str
    overlap: str = "skip"
    catchup: str = "latest"
    parameters: dict[str, Any] = field(default_factory=dict)
    schedule: Schedule | None = None
    webhook: dict[str, Any] = field(default_factory=dict)  # provider, secret, filter?
    on_run: dict[str, Any] = field(default_factory=dict)  # workflow, states
    digest: str = ""  # of the entry's JSON: a changed trigger starts its schedule afresh

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TriggerSpec:
        kind = next(kind for kind in KINDS if kind in data)
        return cls(
            id=data["id"],
            kind=kind,
            overlap=str(data.get("overlap", "skip" if kind == "schedule" else "allow")),
            catchup=str(data.get("catchup", "latest")),
            parameters=dict(data.get("parameters") or {}),
            schedule=Schedule.from_dict(data["schedule"]) if kind == "schedule" else None,
            webhook=dict(data.get("webhook") or {}),
            on_run={"workflow": data["on_run"]["workflow"],
                    "states": list(data["on_run"].get("states") or ["succeeded"])} if kind == "on_run" else {},
            digest=hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32],
        )


def schedule_digest(version: int, spec: TriggerSpec) -> str:
    """What a schedule's state was computed for: every saved version starts its schedules afresh."""
    return f"{version}:{spec.digest}"


def triggers_of(definition: dict[str, Any]) -> list[TriggerSpec]:
    """The triggers of a validated definition (an entry that no longer parses is left out)."""
    found: list[TriggerSpec] = []
    for entry in (definition.get("spec") or {}).get("triggers") or []:
        try:
            found.append(TriggerSpec.from_dict(entry))
        except (ScheduleError, KeyError, StopIteration, ValueError, TypeError):
            continue
    return found
