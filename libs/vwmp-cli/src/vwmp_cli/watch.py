"""`vwmp run --watch`: live per-step progress from the run's WebSocket."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from vwmp_common.states import RUN_END_EVENTS, EventType, StepState
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


def _table(run: dict[str, Any], steps: dict[str, dict[str, Any]], state: str) -> Table:
    table = Table(title=f"run {run['id']} · {run['workflow']} v{run['version']} · {state}")
    table.add_column("step")
    table.add_column("uses")
    table.add_column("state")
    table.add_column("attempt", justify="right")
    table.add_column("detail")
    for step in steps.values():
        colour = state_style(step["state"])
        table.add_row(step["id"], step["uses"], f"[{colour}]{step['state']}[/{colour}]", str(step["attempt"] or ""),
                      step.get("error") or "")
    return table


def watch_run(gateway: Gateway, run: dict[str, Any], console: Console, idle_timeout: float = 3600.0) -> str:
    """Follow a run until its terminal event; returns the final run state."""
    steps = {s["id"]: dict(s) for s in run["steps"]}
    state = run["state"]
    headers = {"Authorization": f"Bearer {gateway.token}"} if gateway.token else {}
    try:
        with connect(gateway.ws_url(f"/runs/{run['id']}/stream?after=0"), additional_headers=headers,
                     subprotocols=[Subprotocol("vwmp.v1")], open_timeout=10) as ws, \
                Live(_table(run, steps, state), console=console, refresh_per_second=8, transient=False) as live:
            while True:
                try:
                    event = json.loads(ws.recv(timeout=idle_timeout))
                except TimeoutError:
                    raise CliError(f"no event for {idle_timeout:.0f}s; the run is still {state}") from None
                kind = event["type"]
                step_id = event.get("step_id")
                if step_id and step_id in steps and kind in STEP_STATE_AFTER:
                    steps[step_id]["state"] = STEP_STATE_AFTER[kind]
                    steps[step_id]["attempt"] = event.get("attempt") or steps[step_id]["attempt"]
                    data = event.get("data") or {}
                    if kind == "step.failed":
                        steps[step_id]["error"] = str(data.get("error", ""))
                if kind.startswith("run."):
                    state = RUN_END_EVENTS.get(kind, kind.removeprefix("run."))
                live.update(_table(run, steps, state))
                if kind in RUN_END_EVENTS:
                    return RUN_END_EVENTS[kind]
    except InvalidStatus as exc:
        raise CliError(f"the stream was refused: HTTP {exc.response.status_code}") from None
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        raise CliError(f"the stream closed (code {code}); the run is {state}") from None
    except OSError as exc:
        raise CliError(f"cannot open the stream: {exc}") from None
