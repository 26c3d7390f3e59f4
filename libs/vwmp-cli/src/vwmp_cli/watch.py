"""`vwmp run --watch`: live per-step progress from the run's WebSocket.

A fan-out step (`for_each`) has one instance step per item (`greet[0]`, `greet[1]`, … with
`parent: greet`); they are folded into their step's row as `37/100` (items terminal / items) so a
1,000-item fan-out is one updated line, not a thousand.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from vwmp_common.states import RUN_END_EVENTS, TERMINAL_STEP_STATES, EventType, StepState
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from vwmp_cli.client import CliError, Gateway
from vwmp_cli.styles import state_style

_STEP_STATES = {state.value for state in StepState}
STEP_STATE_AFTER: dict[str, StepState] = {
    EventType.STEP_STARTED: StepState.RUNNING,
    **{kind: StepState(kind.removeprefix("step.")) for kind in EventType
       if kind.startswith("step.") and kind.removeprefix("step.") in _STEP_STATES},
}
"""The state a step is in after each step event: `step.<state>`, except that a started step is running."""

_INSTANCE_ID = re.compile(r"^(?P<parent>.+)\[(?P<index>\d+)\]$")


def instance_of(step_id: str, parent: str | None = None, item_index: int | None = None) -> tuple[str, int] | None:
    """(fan-out step, item index) of an instance step, else None.

    A stored row says it (`parent`, `item_index`); an event carries only the step id, which says it
    too: `greet[3]` (a step id never holds brackets).
    """
    match = _INSTANCE_ID.match(step_id)
    if parent:
        return parent, item_index if item_index is not None else int(match["index"]) if match else 0
    return (match["parent"], int(match["index"])) if match else None


@dataclass
class FanOut:
    """The items of one fan-out step by index, and how many the step announced (`step.started` `items`)."""

    announced: int = 0
    items: dict[int, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return max(self.announced, len(self.items))

    @property
    def done(self) -> int:
        return sum(1 for state in self.items.values() if state in TERMINAL_STEP_STATES)

    def count(self, state: StepState) -> int:
        return sum(1 for item in self.items.values() if item == state)

    def progress(self) -> str:
        """`37/100`, and how many failed or were cancelled when some were."""
        ended = [f"{n} {state}" for state in (StepState.FAILED, StepState.CANCELLED) if (n := self.count(state))]
        return f"{self.done}/{self.total}" + (f" ({', '.join(ended)})" if ended else "")


class RunProgress:
    """The run as --watch shows it: its steps, fan-out instances folded into their step."""

    def __init__(self, run: dict[str, Any]) -> None:
        self.run = run
        self.state: str = run["state"]
        self.finalizing: str | None = run.get("finalizing")
        self.outputs: dict[str, Any] = dict(run.get("outputs") or {})
        self.steps: dict[str, dict[str, Any]] = {}
        self.fans: dict[str, FanOut] = {}
        for step in run["steps"]:
            inst = instance_of(step["id"], step.get("parent"), step.get("item_index"))
            if inst:
                self.fans.setdefault(inst[0], FanOut()).items[inst[1]] = step["state"]
            else:
                self.steps[step["id"]] = dict(step)

    def apply(self, event: dict[str, Any]) -> None:
        """Fold one event in."""
        kind = event["type"]
        data = event.get("data") or {}
        if kind == EventType.RUN_FINALIZING:
            self.finalizing = str(data.get("state") or "") or None
            return
        if kind.startswith("run."):
            self.state = RUN_END_EVENTS.get(kind, kind.removeprefix("run."))
            if kind in (EventType.RUN_STARTED, EventType.RUN_RESUMED):
                self.state = "running"
            if kind in RUN_END_EVENTS and isinstance(data.get("outputs"), dict):
                self.outputs = dict(data["outputs"])
            return
        step_id = event.get("step_id")
        if not step_id or kind not in STEP_STATE_AFTER:
            return
        inst = instance_of(step_id)
        if inst:
            self.fans.setdefault(inst[0], FanOut()).items[inst[1]] = STEP_STATE_AFTER[kind]
            return
        step = self.steps.get(step_id)
        if step is None:
            return
        step["state"] = STEP_STATE_AFTER[kind]
        step["attempt"] = event.get("attempt") or step["attempt"]
        if kind == EventType.STEP_STARTED and isinstance(data.get("items"), int):
            self.fans.setdefault(step_id, FanOut()).announced = data["items"]
        if kind == EventType.STEP_FAILED:
            step["error"] = str(data.get("error", ""))

    def progress_of(self, step_id: str) -> str:
        fan = self.fans.get(step_id)
        return fan.progress() if fan else ""

    def title(self) -> str:
        run = self.run
        finalizing = f" · finalizing → {self.finalizing}" if self.finalizing and self.state not in _RUN_ENDS else ""
        return f"run {run['id']} · {run['workflow']} v{run['version']} · {self.state}{finalizing}"

    def table(self) -> Table:
        table = Table(title=self.title())
        table.add_column("step")
        table.add_column("uses")
        table.add_column("state")
        table.add_column("attempt", justify="right")
        table.add_column("items", justify="right")
        table.add_column("detail")
        for step in self.steps.values():
            colour = state_style(step["state"])
            table.add_row(step["id"], step["uses"], f"[{colour}]{step['state']}[/{colour}]", str(step["attempt"] or ""),
                          self.progress_of(step["id"]), step.get("error") or "")
        return table


_RUN_ENDS = set(RUN_END_EVENTS.values())


@dataclass
class WatchResult:
    """How the run ended and its workflow outputs (from its final event)."""

    state: str
    outputs: dict[str, Any]


class _ProgressLines:
    """Without a terminal (CI logs) the live table is drawn once at the end: print each fan-out's
    progress as it crosses every tenth of its items instead, one line each, so a log shows it move."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.shown: dict[str, int] = {}

    def update(self, progress: RunProgress) -> None:
        if self.console.is_terminal:
            return
        for step_id, fan in progress.fans.items():
            if not fan.total:
                continue
            tenth = fan.done * 10 // fan.total
            if self.shown.get(step_id, -1) < tenth:
                self.shown[step_id] = tenth
                self.console.print(f"{step_id} {fan.progress()}", highlight=False)


def approval_hint(run_id: str, step_id: str) -> str:
    """What to type when the watched run stops at a gate: the watch goes on until someone decides."""
    return (f"step {step_id} awaits approval; a permitted approver runs: vwmp approve {run_id} {step_id}  "
            f"(or: vwmp reject {run_id} {step_id}). Watching until it is decided; Ctrl-C stops watching, "
            "not the run.")


def watch_run(gateway: Gateway, run: dict[str, Any], console: Console, idle_timeout: float = 3600.0) -> WatchResult:
    """Follow a run until its terminal event; returns how it ended and its outputs."""
    progress = RunProgress(run)
    lines = _ProgressLines(console)
    headers = {"Authorization": f"Bearer {gateway.token}"} if gateway.token else {}
    try:
        with connect(gateway.ws_url(f"/runs/{run['id']}/stream?after=0"), additional_headers=headers,
                     subprotocols=[Subprotocol("vwmp.v1")], open_timeout=10) as ws, \
                Live(progress.table(), console=console, refresh_per_second=8, transient=False) as live:
            while True:
                try:
                    event = json.loads(ws.recv(timeout=idle_timeout))
                except TimeoutError:
                    raise CliError(f"no event for {idle_timeout:.0f}s; the run is still {progress.state}") from None
                progress.apply(event)
                if event["type"] == EventType.STEP_AWAITING_APPROVAL and event.get("step_id"):
                    live.console.print(approval_hint(run["id"], str(event["step_id"])), highlight=False,
                                      soft_wrap=True)
                lines.update(progress)
                live.update(progress.table())
                if event["type"] in RUN_END_EVENTS:
                    return WatchResult(RUN_END_EVENTS[event["type"]], progress.outputs)
    except InvalidStatus as exc:
        raise CliError(f"the stream was refused: HTTP {exc.response.status_code}") from None
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        raise CliError(f"the stream closed (code {code}); the run is {progress.state}") from None
    except OSError as exc:
        raise CliError(f"cannot open the stream: {exc}") from None


def print_outputs(console: Console, outputs: dict[str, Any]) -> None:
    """The run's workflow outputs, one `name: value` line each (values as JSON unless plain text)."""
    if not outputs:
        return
    console.print("outputs:")
    for name, value in outputs.items():
        console.print(f"  {name}: {value if isinstance(value, str) else json.dumps(value)}", highlight=False,
                      markup=False)
