"""The `vwmp` command: apply workflows, start and watch runs, approvals, tokens."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import click
import typer
import yaml
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup
from vwmp_common.states import TERMINAL_RUN_STATES

from vwmp_cli.client import CliError, Gateway, default_token, default_url
from vwmp_cli.styles import SUCCESSFUL_RUN_STATES, state_style


class _Commands(TyperGroup):
    """Shows a CliError as one plain line on stderr and exits 1 (Typer would draw a rich panel)."""

    # Typer passes its vendored click's Context, which it does not export: typed as the override allows.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            ctx.exit(1)


app = typer.Typer(
    cls=_Commands, no_args_is_help=True, add_completion=False, help="VWMP: workflows, runs and tokens."
)
token_app = typer.Typer(no_args_is_help=True, help="API tokens (admin).")
runs_app = typer.Typer(help="List runs, or show one.")
app.add_typer(token_app, name="token")
app.add_typer(runs_app, name="runs")

console = Console()
err = Console(stderr=True)

FileOpt = Annotated[Path, typer.Option("-f", "--file", exists=True, dir_okay=False, help="Workflow YAML or JSON")]


def _gateway(ctx: typer.Context) -> Gateway:
    gateway: Gateway = ctx.obj
    return gateway


@app.callback()
def main(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(
        "--url", help="Gateway URL (default: $VWMP_URL, else $VWMP_HTTP_PORT on 127.0.0.1, else the platform "
                      "`make run` started from this folder, else http://127.0.0.1:8080)")] = None,
    token: Annotated[
        str | None, typer.Option("--token", envvar="VWMP_TOKEN", help="API token (default: $VWMP_DATA_DIR/admin-token)")
    ] = None,
) -> None:
    """Talk to a VWMP gateway."""
    ctx.obj = Gateway(url or default_url(), token or default_token())


def _read_definition(path: Path) -> tuple[str, str, str]:
    """The file's text, its content type and metadata.name (checked locally for a clear message)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    is_json = path.suffix.lower() == ".json"
    try:
        document = json.loads(text) if is_json else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise CliError(f"{path} is not valid {'JSON' if is_json else 'YAML'}: {exc}".replace("\n", " ")) from None
    name = ((document or {}).get("metadata") or {}).get("name") if isinstance(document, dict) else None
    if not isinstance(name, str) or not name:
        raise CliError(f"{path}: /metadata/name is required")
    return text, "application/json" if is_json else "application/yaml", name


@app.command()
def apply(ctx: typer.Context, file: FileOpt) -> None:
    """Create a workflow, or save a new version when it exists."""
    gateway = _gateway(ctx)
    text, content_type, name = _read_definition(file)
    headers = {"Content-Type": content_type}
    response = gateway.request("POST", "/workflows", content=text, headers=headers, ok=(409,))
    if response.status_code == 409:
        saved = gateway.json("PUT", f"/workflows/{name}", content=text, headers=headers)
        console.print(f"updated [bold]{saved['name']}[/bold] → version {saved['version']}")
    else:
        saved = response.json()
        console.print(f"created [bold]{saved['name']}[/bold] version {saved['version']}")


@app.command()
def validate(ctx: typer.Context, file: FileOpt) -> None:
    """Validate a workflow file; errors carry JSON pointers."""
    text, content_type, _ = _read_definition(file)
    result = _gateway(ctx).json("POST", "/workflows/validate", content=text, headers={"Content-Type": content_type})
    if result["valid"]:
        console.print(f"[green]{file} is valid[/green]", soft_wrap=True)  # a path is never broken
        return
    for error in result["errors"]:
        err.print(f"{error['pointer'] or '/'}: {error['message']}", highlight=False)
    raise typer.Exit(1)


def _parameters(pairs: list[str]) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"parameter {pair!r}: use key=value")
        try:
            parameters[key] = json.loads(value)
        except ValueError:
            parameters[key] = value
    return parameters


@app.command()
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Workflow name")],
    param: Annotated[list[str] | None, typer.Option("-p", "--param", help="key=value (JSON values allowed)")] = None,
    version: Annotated[int | None, typer.Option(help="Version to run (default: latest)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan every step, change nothing")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Follow the run live; exit 1 unless it succeeds")] = False,
) -> None:
    """Start a run of a workflow."""
    from vwmp_cli.watch import print_outputs, watch_run

    gateway = _gateway(ctx)
    body: dict[str, Any] = {"parameters": _parameters(param or []), "dry_run": dry_run}
    if version is not None:
        body["version"] = version
    # One key per invocation: the retry after a lost answer gets the run the first attempt started.
    key = {"Idempotency-Key": f"vwmp-cli-{uuid.uuid4()}"}
    started = gateway.json("POST", f"/workflows/{name}/runs", json=body, headers=key, retries=1)
    console.print(f"run [bold]{started['id']}[/bold] started ({started['state']})")
    if watch:
        result = watch_run(gateway, started, console)
        print_outputs(console, result.outputs)
        console.print(f"run {started['id']} [{state_style(result.state)}]{result.state}[/]")
        if result.state not in SUCCESSFUL_RUN_STATES:
            raise typer.Exit(1)


def _runs_table(runs: list[dict[str, Any]], total: int) -> Table:
    table = Table(title=f"runs ({len(runs)} of {total})")
    # The trigger column only when a trigger started one of them: manual runs read as before.
    triggered = any(_trigger(item.get("trigger")) != "manual" for item in runs)
    for column in ("id", "workflow", "version", "state", "created", "by", *(("trigger",) if triggered else ()),
                   "concurrency"):
        table.add_column(column)
    for item in runs:
        style = state_style(item["state"])
        table.add_row(item["id"], item["workflow"], str(item["version"]), f"[{style}]{item['state']}[/]",
                      item["created_at"] or "", item["created_by"],
                      *((_trigger(item.get("trigger")),) if triggered else ()), _concurrency(item.get("concurrency")))
    return table


def _trigger(found: dict[str, Any] | None) -> str:
    """`manual`, or `<kind> <id>` for a run a trigger started."""
    if not found or found["kind"] == "manual":
        return "manual"
    return f"{found['kind']} {found['id']}"


def _concurrency(found: dict[str, Any] | None) -> str:
    """`key`, and while the run waits for a slot: `key #2 behind <holder ids>` (ids shortened)."""
    if not found:
        return ""
    if not found["position"]:
        return str(found["key"])
    holders = ", ".join(run_id[:8] for run_id in found["blocked_by"]) or "the runs ahead"
    return f"{found['key']} #{found['position']} behind {holders}"


@runs_app.callback(invoke_without_command=True)
def runs(
    ctx: typer.Context,
    workflow: Annotated[str | None, typer.Option(help="Only runs of this workflow")] = None,
    state: Annotated[str | None, typer.Option(help="Only runs in this state")] = None,
    limit: Annotated[int, typer.Option(help="How many")] = 50,
    trigger: Annotated[str | None, typer.Option(help="Only runs started so: manual, schedule, webhook, on_run or a "
                                                     "trigger id")] = None,
    actor: Annotated[str | None, typer.Option(help="Only runs started by this actor")] = None,
    since: Annotated[str | None, typer.Option(help="Only runs created at or after this ISO 8601 moment")] = None,
    until: Annotated[str | None, typer.Option(help="Only runs created before this ISO 8601 moment")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p",
                                                    help="name=value: only runs with this parameter value "
                                                         "(repeatable)")] = None,
) -> None:
    """List runs, newest first; search them by workflow, state, trigger, actor, time and parameter values."""
    if ctx.invoked_subcommand:
        return
    params: dict[str, Any] = {"limit": limit}
    for key, value in (("workflow", workflow), ("state", state), ("trigger", trigger), ("actor", actor),
                       ("since", _moment(since, "--since")), ("until", _moment(until, "--until"))):
        if value:
            params[key] = value
    for pair in param or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{pair!r}: expected name=value", param_hint="--param")
        params[f"param.{name}"] = value
    page = _gateway(ctx).json("GET", "/runs", params=params)
    console.print(_runs_table(page["items"], page["total"]))


def _moment(text: str | None, option: str) -> str | None:
    """An ISO 8601 moment for the API; a bare date (`2026-12-01`) is its midnight UTC."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected an ISO 8601 date or date-time", param_hint=option) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).isoformat()


def _show(gateway: Gateway, run_id: str, items: bool = False) -> None:
    from vwmp_cli.watch import RunProgress, instance_of, print_outputs

    found = gateway.json("GET", f"/runs/{run_id}")
    style = state_style(found["state"])
    console.print(f"run [bold]{found['id']}[/bold] · {found['workflow']} v{found['version']} · "
                  f"[{style}]{found['state']}[/]" + (" · dry run" if found["dry_run"] else ""))
    parent = found.get("parent")
    if parent:
        console.print(f"child of run {parent['run_id']} (step {parent['step_id']})", highlight=False)
    if found.get("finalizing") and found["state"] not in TERMINAL_RUN_STATES:
        console.print(f"finalizing: the finally steps run, then it ends {found['finalizing']}", highlight=False)
    console.print(f"parameters: {json.dumps(found['parameters'])}", highlight=False)
    place = found.get("concurrency")
    if place:
        waiting = (f" · waiting, position {place['position']}, blocked by {', '.join(place['blocked_by']) or '-'}"
                   if place["position"] else " · holds a slot" if found["state"] not in TERMINAL_RUN_STATES else "")
        console.print(f"concurrency: {place['key']} (limit {place['limit']}, {place['on_conflict']}){waiting}",
                      highlight=False)
    # A fan-out step is one row with its progress; its items only with --items.
    progress = RunProgress(found)
    table = Table()
    for column in ("step", "uses", "state", "attempt", "items", "outputs", "error"):
        table.add_column(column)
    for step in found["steps"]:
        if not items and instance_of(step["id"], step.get("parent"), step.get("item_index")):
            continue
        table.add_row(step["id"], step["uses"], f"[{state_style(step['state'])}]{step['state']}[/]",
                      str(step["attempt"]), progress.progress_of(step["id"]),
                      _outputs_cell(step["outputs"]), step["error"] or "")
    console.print(table)
    for step in found["steps"]:  # multi-line values (diffs, notes) in full, as text, after the table
        for where, text in _long_texts(step["outputs"]):
            console.print(f"{step['id']} · {where}:", style="bold", highlight=False)
            console.print(text, markup=False, highlight=False)
    print_outputs(console, found.get("outputs") or {})


def _long_texts(value: Any, where: str = "outputs") -> list[tuple[str, str]]:
    """Every multi-line string in `value` with its path (`outputs.plan[0].diff`)."""
    if isinstance(value, str):
        return [(where, value)] if "\n" in value else []
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _long_texts(item, f"{where}.{key}")]
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in _long_texts(item, f"{where}[{i}]")]
    return []


def _outputs_cell(outputs: dict[str, Any] | None) -> str:
    """The outputs as JSON, a multi-line string shown as a pointer to its full text below the table."""
    def fold(value: Any) -> Any:
        if isinstance(value, str) and "\n" in value:
            return f"<{value.count(chr(10)) + 1} lines, below>"
        if isinstance(value, dict):
            return {key: fold(item) for key, item in value.items()}
        if isinstance(value, list):
            return [fold(item) for item in value]
        return value

    return json.dumps(fold(outputs)) if outputs else ""


RunIdArg = Annotated[str, typer.Argument(help="Run id")]
ItemsOpt = Annotated[bool, typer.Option("--items", help="List every item of a fan-out step, not only its progress")]


@runs_app.command("show")
def runs_show(ctx: typer.Context, run_id: RunIdArg, items: ItemsOpt = False) -> None:
    """Show one run with its steps and outputs."""
    _show(_gateway(ctx), run_id, items)


@app.command("run-show")
def run_show(ctx: typer.Context, run_id: RunIdArg, items: ItemsOpt = False) -> None:
    """Show one run with its steps and outputs."""
    _show(_gateway(ctx), run_id, items)


def _show_gate(outputs: dict[str, Any]) -> str | None:
    """Print the plan a gate shows and its policy; returns the plan_digest to pin the approval to."""
    plan = outputs.get("plan")
    if not isinstance(plan, list):
        return None
    console.print(f"plan of the steps after the gate ({len(plan)} item{'s' if len(plan) != 1 else ''}):")
    for item in plan:
        console.print(f"  {item.get('step', '')}: {item.get('action', '')} {item.get('target', '')}", highlight=False)
        if item.get("diff"):
            console.print(str(item["diff"]), markup=False, highlight=False)
    approvals = outputs.get("approvals") or []
    required = (outputs.get("policy") or {}).get("required", 1)
    console.print(f"approvals so far: {len(approvals)} of {required}"
                  + (f" ({', '.join(str(a.get('by')) for a in approvals)})" if approvals else ""), highlight=False)
    digest = outputs.get("plan_digest")
    if isinstance(digest, str) and digest:
        console.print(f"plan digest: {digest}", highlight=False)
        return digest
    return None


@app.command()
def approve(
    ctx: typer.Context, run_id: str, step: str,
    comment: Annotated[str, typer.Option(help="Shown in the run's history")] = "",
    inputs: Annotated[list[str] | None, typer.Option(
        "-i", "--input", help="key=value the gate asks for (JSON values allowed)")] = None,
) -> None:
    """Approve a step awaiting approval: shows the plan of what follows, then approves exactly that plan.

    The approval carries the digest of the plan shown; if the plan changed meanwhile (the remote moved,
    a file changed) it is refused and the gate shows the new plan: read it and approve again.
    """
    gateway = _gateway(ctx)
    found = gateway.json("GET", f"/runs/{run_id}")
    gate = next((s for s in found.get("steps", []) if s.get("id") == step), None)
    body: dict[str, Any] = {"comment": comment}
    if gate is not None and gate.get("state") == "awaiting_approval":
        digest = _show_gate(gate.get("outputs") or {})
        if digest:
            body["plan_digest"] = digest
    if inputs:
        body["inputs"] = _parameters(inputs)
    gateway.json("POST", f"/runs/{run_id}/steps/{step}/approve", json=body)
    console.print(f"approved {step} of run {run_id}")


@app.command()
def reject(
    ctx: typer.Context, run_id: str, step: str,
    comment: Annotated[str, typer.Option(help="Shown in the run's history")] = "",
) -> None:
    """Reject a step awaiting approval (the step fails)."""
    _gateway(ctx).json("POST", f"/runs/{run_id}/steps/{step}/reject", json={"comment": comment})
    console.print(f"rejected {step} of run {run_id}")


@app.command()
def cancel(ctx: typer.Context, run_id: str) -> None:
    """Cancel a run."""
    found = _gateway(ctx).json("POST", f"/runs/{run_id}/cancel")
    console.print(f"run {run_id} is {found['state']}")


@app.command(no_args_is_help=True)
def triggers(
    ctx: typer.Context,
    words: Annotated[list[str], typer.Argument(metavar="NAME | pause NAME ID | resume NAME ID",
                                               help="A workflow to list the triggers of, or pause/resume one")],
) -> None:
    """List a workflow's triggers (next fire, last fire, last error), or pause or resume one (operator)."""
    gateway = _gateway(ctx)
    if len(words) == 3 and words[0] in ("pause", "resume"):
        action, name, trigger_id = words
        found = gateway.json("POST", f"/workflows/{name}/triggers/{trigger_id}/{action}")
        console.print(f"trigger {trigger_id} of {name} is {'paused' if found['paused'] else 'active'}"
                      + (f", next fire {found['next_fire_at']}" if found["next_fire_at"] else ""))
        return
    if len(words) != 1:
        raise CliError("usage: vwmp triggers NAME | vwmp triggers pause|resume NAME ID")
    page = gateway.json("GET", f"/workflows/{words[0]}/triggers")
    table = Table(title=f"triggers of {words[0]}")
    for column in ("id", "kind", "state", "next fire", "last fire", "last run", "last error"):
        table.add_column(column)
    for item in page["items"]:
        detail = item.get("webhook_url") or ""
        table.add_row(item["id"], item["kind"] + (f" {detail}" if detail else ""),
                      f"paused by {item['paused_by']}" if item["paused"] else "active",
                      item["next_fire_at"] or "", item["last_fire_at"] or "", item["last_run_id"] or "",
                      item["last_error"] or "")
    console.print(table)


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option(help="viewer, editor, operator or admin")],
    name: Annotated[str, typer.Option(help="Who or what uses it (shown in the audit trail)")],
    expires_in: Annotated[str | None, typer.Option(help="Lifetime: seconds or 30m, 12h, 90d")] = None,
) -> None:
    """Create a token; its secret is printed once."""
    body: dict[str, Any] = {"name": name, "role": role}
    if expires_in:
        body["expires_in"] = int(expires_in) if expires_in.isdigit() else expires_in
    created = _gateway(ctx).json("POST", "/tokens", json=body)
    err.print(f"token {created['id']} ({created['role']}) created; the secret is shown once:")
    console.print(created["token"], highlight=False, soft_wrap=True)


@token_app.command("list")
def token_list(ctx: typer.Context) -> None:
    """List tokens (never their secrets)."""
    page = _gateway(ctx).json("GET", "/tokens")
    table = Table(title="tokens")
    for column in ("id", "name", "role", "created", "expires", "revoked"):
        table.add_column(column)
    for item in page["items"]:
        table.add_row(item["id"], item["name"], item["role"], item["created_at"] or "",
                      item["expires_at"] or "never", item["revoked_at"] or "")
    console.print(table)


@token_app.command("revoke")
def token_revoke(ctx: typer.Context, token_id: str) -> None:
    """Revoke a token at once."""
    _gateway(ctx).request("DELETE", f"/tokens/{token_id}")
    console.print(f"token {token_id} revoked")


@app.command()
def plugins(ctx: typer.Context) -> None:
    """List the plugin hosts the platform sees and the step types each offers."""
    page = _gateway(ctx).json("GET", "/plugin-hosts")
    if not page["items"]:
        console.print("the platform sees no plugin host: a host announces itself on the platform's NATS "
                      "(`make run` prints its URL and the command that joins)")
        return
    table = Table(title="plugin hosts")
    for column in ("host", "address", "plugins", "step types", "last seen"):
        table.add_column(column)
    for host in page["items"]:
        table.add_row(host["id"], host["address"], ", ".join(host["plugins"]), ", ".join(host["step_types"]),
                      host["last_seen"] or "")
    console.print(table)


@app.command()
def up() -> None:
    """Start the whole platform locally (NATS, storage, engine, plugin host, gateway)."""
    from vwmp_cli import up as supervisor

    supervisor.main()

