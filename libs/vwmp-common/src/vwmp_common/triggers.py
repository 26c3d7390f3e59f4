"""How a run was started: the trigger kinds every service names the same way."""

from __future__ import annotations

from enum import StrEnum


class TriggerKind(StrEnum):
    """`manual` is a person or script calling the API; the others are `spec.triggers` entries."""

    MANUAL = "manual"
    SCHEDULE = "schedule"
    WEBHOOK = "webhook"
    ON_RUN = "on_run"


WEBHOOK_PROVIDERS = ("github", "gitlab", "gitea", "generic")
