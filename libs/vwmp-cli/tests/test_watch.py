"""`vwmp run --watch` with fan-out steps: one progress row per fan-out step, outputs at the end.

The engine's for_each arrives separately; these tests play the contract's events (instances
`greet[i]` with parent `greet`, the aggregate's `step.started` `{items: n}`, the final event's
`outputs`) from a real WebSocket server on a free port, through the real `watch_run`.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console
from vwmp_cli.client import Gateway
from vwmp_cli.watch import FanOut, RunProgress, instance_of, print_outputs, watch_run
from websockets.sync.server import Server, ServerConnection, serve


def _run(steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": "r-1", "workflow": "greet-all", "version": 1, "state": "queued", "outputs": {}, "finalizing": None,
            "steps": steps if steps is not None else [
                {"id": "greet", "uses": "hello/greet", "state": "pending", "attempt": 0, "parent": None,
                 "item_index": None},
                {"id": "report", "uses": "hello/greet", "state": "pending", "attempt": 0, "parent": None,
                 "item_index": None},
            ]}


def _fan_out_events(n: int) -> list[dict[str, Any]]:
    seq = iter(range(1, 10 * n + 10))
    events: list[dict[str, Any]] = [{"seq": next(seq), "type": "run.started", "step_id": None, "data": {}},
                                    {"seq": next(seq), "type": "step.started", "step_id": "greet", "attempt": 1,
                                     "data": {"items": n}}]
    for i in range(n):
        events.append({"seq": next(seq), "type": "step.started", "step_id": f"greet[{i}]", "attempt": 1, "data": {}})
        events.append({"seq": next(seq), "type": "step.log", "step_id": f"greet[{i}]", "attempt": 1,
                       "data": {"lines": [{"stream": "stdout", "line": f"greeting n{i}"}]}})
        events.append({"seq": next(seq), "type": "step.failed" if i == 7 else "step.succeeded",
                       "step_id": f"greet[{i}]", "attempt": 1, "data": {"error": "boom"} if i == 7 else {}})
    events += [
        {"seq": next(seq), "type": "step.failed", "step_id": "greet", "attempt": 1,
         "data": {"items": n, "succeeded": n - 1, "failed": 1, "cancelled": 0}},
        {"seq": next(seq), "type": "step.started", "step_id": "report", "attempt": 1, "data": {}},
        {"seq": next(seq), "type": "step.succeeded", "step_id": "report", "attempt": 1, "data": {}},
        {"seq": next(seq), "type": "run.failed", "step_id": None, "data": {"outputs": {"count": n - 1, "tag": "v1"}}},
    ]
    return events


@pytest.fixture
def stream() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A WebSocket server that sends the events put in the returned list to whoever connects."""
    events: list[dict[str, Any]] = []

    def handler(ws: ServerConnection) -> None:
        for event in events:
            ws.send(json.dumps({"run_id": "r-1", "at": None, **event}))
        ws.wait_closed()

    server: Server = serve(handler, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.socket.getsockname()[:2]
        yield f"http://{host}:{port}", events
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_an_instance_is_known_by_its_parent_or_its_id() -> None:
    assert instance_of("greet[3]", "greet", 3) == ("greet", 3)
    assert instance_of("greet[12]") == ("greet", 12)
    assert instance_of("greet") is None
    assert instance_of("greet", None, None) is None


def test_fan_out_progress_is_items_terminal_over_items() -> None:
    ended = {35: "failed", 36: "cancelled", 37: "running"}
    fan = FanOut(announced=100, items={i: "succeeded" for i in range(35)} | ended)
    assert fan.progress() == "37/100 (1 failed, 1 cancelled)"
    assert FanOut(items={0: "succeeded"}).progress() == "1/1"


def test_instance_events_fold_into_one_row_per_fan_out_step() -> None:
    progress = RunProgress(_run())
    for event in _fan_out_events(100)[:2 + 3 * 37]:
        progress.apply(event)
    assert list(progress.steps) == ["greet", "report"]
    assert progress.progress_of("greet") == "37/100 (1 failed)"
    out = io.StringIO()
    Console(file=out, width=140).print(progress.table())
    assert "37/100 (1 failed)" in out.getvalue()
    assert "greet[" not in out.getvalue()


def test_a_run_fetched_mid_fan_out_counts_its_stored_instances() -> None:
    stored = [{"id": "greet", "uses": "hello/greet", "state": "running", "attempt": 1, "parent": None}] + [
        {"id": f"greet[{i}]", "uses": "hello/greet", "state": "succeeded" if i < 3 else "pending", "attempt": 1,
         "parent": "greet", "item_index": i} for i in range(10)]
    progress = RunProgress(_run(stored))
    assert list(progress.steps) == ["greet"]
    assert progress.progress_of("greet") == "3/10"


def test_finalizing_and_the_final_outputs() -> None:
    progress = RunProgress(_run())
    progress.apply({"type": "run.started", "data": {}})
    progress.apply({"type": "run.finalizing", "data": {"state": "cancelled", "reason": "cancel", "by": "me"}})
    assert progress.title().endswith("running · finalizing → cancelled")
    progress.apply({"type": "run.cancelled", "data": {"outputs": {"v": 1}}})
    assert progress.state == "cancelled" and progress.outputs == {"v": 1}
    assert "finalizing" not in progress.title()


def test_watch_shows_fan_out_progress_lines_without_flooding(stream: tuple[str, list[dict[str, Any]]]) -> None:
    url, events = stream
    events.extend(_fan_out_events(100))
    out = io.StringIO()
    console = Console(file=out, width=140)  # not a terminal: progress lines, then the final table
    result = watch_run(Gateway(url, None), _run(), console, idle_timeout=10)
    assert result.state == "failed"
    assert result.outputs == {"count": 99, "tag": "v1"}
    text = out.getvalue()
    progress_lines = [line for line in text.splitlines() if line.startswith("greet ")]
    assert progress_lines[0] == "greet 0/100"
    assert progress_lines[-1] == "greet 100/100 (1 failed)"
    assert len(progress_lines) <= 11  # a line per tenth of the items, not one per event
    assert "greet[" not in text
    assert "run r-1 · greet-all v1 · failed" in text  # the final table, its greet row with the same progress
    assert sum("100/100 (1 failed)" in line for line in text.splitlines()) == 2


def test_outputs_print_one_line_each() -> None:
    out = io.StringIO()
    print_outputs(Console(file=out, width=120), {"version": "1.2.3", "count": 3, "items": ["a", "[b]"]})
    assert out.getvalue().splitlines() == ["outputs:", "  version: 1.2.3", "  count: 3", '  items: ["a", "[b]"]']
    silent = io.StringIO()
    print_outputs(Console(file=silent), {})
    assert silent.getvalue() == ""


def _shown(monkeypatch: pytest.MonkeyPatch, run: dict[str, Any], items: bool) -> str:
    """`vwmp runs show` of `run`, answered by an in-process transport instead of a gateway."""
    import httpx
    from vwmp_cli import main

    out = io.StringIO()
    monkeypatch.setattr(main, "console", Console(file=out, width=200))
    gateway = Gateway("http://gateway.invalid", None)
    gateway._http = httpx.Client(base_url="http://gateway.invalid/api/v1",
                                 transport=httpx.MockTransport(lambda request: httpx.Response(200, json=run)))
    main._show(gateway, run["id"], items)
    return out.getvalue()


def test_runs_show_folds_a_fan_out_and_prints_outputs_and_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    steps = [{"id": "greet", "uses": "hello/greet", "state": "failed", "attempt": 1, "outputs": {}, "error": None,
              "parent": None, "item_index": None}] + [
        {"id": f"greet[{i}]", "uses": "hello/greet", "state": "failed" if i == 2 else "succeeded", "attempt": 1,
         "outputs": {"greeting": f"hi {i}"}, "error": "boom" if i == 2 else None, "parent": "greet", "item_index": i}
        for i in range(5)]
    run = {**_run(steps), "state": "failed", "parameters": {}, "dry_run": False, "concurrency": None,
           "outputs": {"count": 4}, "parent": {"run_id": "p-9", "step_id": "publish[1]"}}
    folded = _shown(monkeypatch, run, items=False)
    assert "5/5 (1 failed)" in folded
    assert "greet[" not in folded
    assert "child of run p-9 (step publish[1])" in folded
    assert folded.rstrip().endswith("outputs:\n  count: 4")
    listed = _shown(monkeypatch, run, items=True)
    assert all(f"greet[{i}]" in listed for i in range(5))
