"""Who may call what: the one table of route → minimum role, and the audit action of each route.

A route missing from the table is refused for everyone (fail closed); a test checks the table
covers every route of the app, and builds the full route x role matrix from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vwmp_common.roles import RANK as RANK  # re-exported: the gateway's models and tests use them from here
from vwmp_common.roles import ROLES as ROLES
from vwmp_common.roles import Role as Role

API = "/api/v1"


@dataclass(frozen=True)
class Rule:
    """Minimum role of a route (None: public) and the audit action it performs."""

    role: str | None
    action: str
    mutating: bool = False


def _r(role: str | None, action: str, mutating: bool = False) -> Rule:
    return Rule(role, action, mutating)


ROUTE_RULES: dict[tuple[str, str], Rule] = {
    ("GET", f"{API}/health"): _r(None, "health.read"),
    ("GET", f"{API}/ready"): _r(None, "health.ready"),
    ("GET", f"{API}/me"): _r("viewer", "me.read"),
    ("GET", f"{API}/step-types"): _r("viewer", "step_type.list"),
    ("GET", f"{API}/templates"): _r("viewer", "template.list"),
    ("GET", f"{API}/plugin-hosts"): _r("viewer", "plugin_host.list"),
    ("GET", f"{API}/schemas/workflow"): _r("viewer", "schema.read"),
    ("POST", f"{API}/workflows/validate"): _r("viewer", "workflow.validate"),
    ("GET", f"{API}/workflows"): _r("viewer", "workflow.list"),
    ("POST", f"{API}/workflows"): _r("editor", "workflow.create", True),
    ("GET", f"{API}/workflows/{{name}}"): _r("viewer", "workflow.read"),
    ("PUT", f"{API}/workflows/{{name}}"): _r("editor", "workflow.update", True),
    ("DELETE", f"{API}/workflows/{{name}}"): _r("editor", "workflow.archive", True),
    ("GET", f"{API}/workflows/{{name}}/versions"): _r("viewer", "workflow.versions"),
    ("GET", f"{API}/workflows/{{name}}/versions/{{version}}"): _r("viewer", "workflow.read"),
    ("POST", f"{API}/workflows/{{name}}/runs"): _r("operator", "run.start", True),
    ("GET", f"{API}/runs"): _r("viewer", "run.list"),
    ("GET", f"{API}/runs/{{run_id}}"): _r("viewer", "run.read"),
    ("GET", f"{API}/runs/{{run_id}}/events"): _r("viewer", "run.events"),
    ("GET", f"{API}/runs/{{run_id}}/steps"): _r("viewer", "run.steps"),
    ("GET", f"{API}/runs/{{run_id}}/steps/{{step_id}}/logs"): _r("viewer", "run.logs"),
    ("POST", f"{API}/runs/{{run_id}}/cancel"): _r("operator", "run.cancel", True),
    ("POST", f"{API}/runs/{{run_id}}/pause"): _r("operator", "run.pause", True),
    ("POST", f"{API}/runs/{{run_id}}/resume"): _r("operator", "run.resume", True),
    ("POST", f"{API}/runs/{{run_id}}/retry"): _r("operator", "run.retry", True),
    ("POST", f"{API}/runs/{{run_id}}/steps/{{step_id}}/rerun"): _r("operator", "run.rerun", True),
    ("POST", f"{API}/runs/{{run_id}}/steps/{{step_id}}/approve"): _r("operator", "step.approve", True),
    ("POST", f"{API}/runs/{{run_id}}/steps/{{step_id}}/reject"): _r("operator", "step.reject", True),
    ("POST", f"{API}/tokens"): _r("admin", "token.create", True),
    ("GET", f"{API}/tokens"): _r("admin", "token.list"),
    ("DELETE", f"{API}/tokens/{{token_id}}"): _r("admin", "token.revoke", True),
    ("GET", f"{API}/config"): _r("viewer", "config.read"),
    ("GET", f"{API}/config/schema"): _r("viewer", "config.schema"),
    ("PUT", f"{API}/config"): _r("admin", "config.update", True),
    ("GET", f"{API}/audit"): _r("admin", "audit.list"),
    ("GET", f"{API}/workflows/{{name}}/triggers"): _r("viewer", "trigger.list"),
    ("POST", f"{API}/workflows/{{name}}/triggers/{{trigger_id}}/pause"): _r("operator", "trigger.pause", True),
    ("POST", f"{API}/workflows/{{name}}/triggers/{{trigger_id}}/resume"): _r("operator", "trigger.resume", True),
    # Webhooks carry no bearer token: the engine checks the forge's signature (401 when bad, audited).
    ("POST", f"{API}/hooks/{{workflow}}/{{trigger_id}}"): _r(None, "webhook.deliver", True),
    ("WS", f"{API}/runs/{{run_id}}/stream"): _r("viewer", "run.stream"),
    ("WS", f"{API}/stream"): _r("viewer", "stream.all"),
}

DENY_ALL = Rule("nobody", "unknown")


def rule_for(method: str, path_template: str) -> Rule:
    """The rule of a route; unknown routes are refused."""
    return ROUTE_RULES.get((method.upper(), path_template), DENY_ALL)


def allows(role: str, minimum: str | None) -> bool:
    """Whether `role` meets `minimum` (None: anyone)."""
    if minimum is None:
        return True
    if minimum not in RANK or role not in RANK:
        return False
    return RANK[role] >= RANK[minimum]


def operation_id_of(route: object) -> str:
    """`{tag}-{name}`: the OpenAPI operation id of a route (stable, unique in the app)."""
    tags = getattr(route, "tags", None) or ["default"]
    return f"{tags[0]}-{getattr(route, 'name', '')}"


def rules_by_operation(openapi: dict[str, object]) -> dict[str, Rule]:
    """The table re-keyed by operation id, from the app's OpenAPI paths (done once at start-up)."""
    rules: dict[str, Rule] = {}
    paths = openapi.get("paths")
    assert isinstance(paths, dict)
    for path, operations in paths.items():
        for method, operation in operations.items():
            rules[operation["operationId"]] = rule_for(method, path)
    return rules


def rule_of_scope(scope: Mapping[str, object]) -> Rule | None:
    """The rule of the route a request matched (None before routing or when nothing matched)."""
    route = scope.get("route")
    if route is None:
        return None
    app = scope.get("app")
    rules: dict[str, Rule] = getattr(getattr(app, "state", None), "operation_rules", {})
    return rules.get(operation_id_of(route), DENY_ALL)
