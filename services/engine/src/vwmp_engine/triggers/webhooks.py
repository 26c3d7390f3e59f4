"""Webhook deliveries: each forge's own signature scheme, checked in constant time, then the run.

GitHub signs the raw body with HMAC-SHA256 in `X-Hub-Signature-256: sha256=<hex>`, Gitea in
`X-Gitea-Signature: <hex>`, the generic provider in `X-VWMP-Signature-256: sha256=<hex>`; GitLab
sends the secret itself in `X-Gitlab-Token`. The secret is read from the engine's secret store
and never leaves the engine (nor enters a log line).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vwmp_common.timeutil import iso, utcnow

from vwmp_engine import expressions
from vwmp_engine.runtime import EngineRuntime
from vwmp_engine.starting import Started
from vwmp_engine.store import Workflow
from vwmp_engine.triggers.checks import secret_name
from vwmp_engine.triggers.firing import fire, previous_not_done, problems_text, run_trigger, trigger_scope
from vwmp_engine.triggers.records import Advance
from vwmp_engine.triggers.spec import TriggerSpec, triggers_of
from vwmp_engine.triggers.store import TriggerStore

log = logging.getLogger(__name__)

SIGNATURE_HEADER = {"github": "x-hub-signature-256", "gitea": "x-gitea-signature", "gitlab": "x-gitlab-token",
                    "generic": "x-vwmp-signature-256"}
DELIVERY_HEADERS = {"github": ("x-github-delivery",), "gitea": ("x-gitea-delivery",),
                    "gitlab": ("x-gitlab-event-uuid", "idempotency-key"), "generic": ("x-vwmp-delivery",)}
EVENT_HEADERS = {"github": "x-github-event", "gitea": "x-gitea-event", "gitlab": "x-gitlab-event",
                 "generic": "x-vwmp-event"}


class UnknownWebhook(LookupError):
    """No webhook trigger of that id in the workflow's latest version (or no such workflow)."""


class SignatureRefused(PermissionError):
    """The delivery's signature is missing or wrong, or the trigger's secret is not set."""


@dataclass(frozen=True)
class Delivery:
    """What a delivery did: a run started (or the one of a known delivery id), filtered, or skipped."""

    started: Started | None = None
    filtered: bool = False
    replayed: bool = False


def verify(provider: str, secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether the delivery carries the provider's valid signature for `secret` (constant time)."""
    sent = headers.get(SIGNATURE_HEADER[provider], "")
    if not sent or not secret:
        return False
    if provider == "gitlab":
        return hmac.compare_digest(sent.encode(), secret.encode())
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    expected = digest if provider == "gitea" else f"sha256={digest}"
    return hmac.compare_digest(sent.strip().lower().encode(), expected.encode())


def webhook_spec(workflow: Workflow, trigger_id: str) -> TriggerSpec:
    """The webhook trigger `trigger_id` of the workflow's latest version; UnknownWebhook when none."""
    for spec in triggers_of(workflow.definition):
        if spec.id == trigger_id and spec.kind == "webhook":
            return spec
    raise UnknownWebhook(f"workflow {workflow.name!r} has no webhook trigger {trigger_id!r}")


async def deliver(runtime: EngineRuntime, store: TriggerStore, workflow: Workflow, trigger_id: str,
                  headers: Mapping[str, str], body: bytes) -> Delivery:
    """Verify, filter and start; SignatureRefused or UnknownWebhook when the delivery is not accepted."""
    spec = webhook_spec(workflow, trigger_id)
    provider = str(spec.webhook.get("provider", "generic"))
    name = secret_name(str(spec.webhook.get("secret", "")))
    secret = runtime.secrets.get(name) if name else None
    if secret is None:
        await _record(store, workflow, spec, error=f"the secret {name!r} is not set")
        log.warning("webhook secret missing", extra={"fields": {"workflow": workflow.name, "trigger_id": spec.id,
                                                                 "secret": name}})
        raise SignatureRefused("the webhook's secret is not configured")
    if not verify(provider, secret, headers, body):
        raise SignatureRefused(f"missing or bad {SIGNATURE_HEADER[provider]} signature")
    state = (await store.states(workflow.name)).get((workflow.name, spec.id))
    if state is not None and state.paused:
        return Delivery(filtered=True)
    try:
        event: Any = json.loads(body or b"{}")
    except ValueError:
        event = {}
    now = utcnow()
    delivery = next((headers[h] for h in DELIVERY_HEADERS[provider] if headers.get(h)), "")[:200]
    scope = {"event": event,
             "trigger": trigger_scope(spec, now, delivery=delivery, event=headers.get(EVENT_HEADERS[provider], ""))}
    condition = spec.webhook.get("filter")
    if isinstance(condition, str):
        try:
            if not expressions.condition(condition, scope):
                return Delivery(filtered=True)
        except expressions.ExpressionError:
            return Delivery(filtered=True)  # the payload lacks what the filter looks at: not this trigger's event
    if spec.overlap == "skip" and (running := await previous_not_done(store, workflow, spec)):
        await _record(store, workflow, spec, error=f"delivery {delivery or '-'} skipped: run {running} is not done")
        return Delivery(filtered=True)
    fired = Advance(workflow.name, spec.id, fired_at=now)
    started = await fire(runtime, workflow, spec, scope, run_trigger(spec, now, dedupe_key=delivery, delivery=delivery),
                         fired)
    if started.run is not None:
        replayed = started.run.message.replayed
        log.info("webhook delivery", extra={"fields": {"workflow": workflow.name, "trigger_id": spec.id,
                                                      "run_id": started.run.id, "replayed": replayed,
                                                      "at": iso(now)}})
        return Delivery(started=started, replayed=replayed)
    await _record(store, workflow, spec, error=problems_text(started.problems) or str(started.conflict))
    return Delivery(started=started)


async def _record(store: TriggerStore, workflow: Workflow, spec: TriggerSpec, error: str) -> None:
    await store.advance(Advance(workflow.name, spec.id, error=error))
