"""Errors a step handler raises; each maps to a failure kind the engine understands."""

from __future__ import annotations

from dataclasses import dataclass


class StepError(Exception):
    """The step failed; the engine may retry it according to the step's retry policy.

    Args:
        message: what went wrong, shown to the user (never put secrets in it).
    """

    kind = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(StepError):
    """The step's config is invalid; retrying cannot help, so the engine never retries it.

    Args:
        message: what is wrong, shown to the user.
        problems: each problem with its JSON pointer, when known (invalid config found by the SDK).
    """

    kind = "config"

    def __init__(self, message: str, problems: list[ConfigProblem] | None = None) -> None:
        super().__init__(message)
        self.problems: list[ConfigProblem] = list(problems or [])


class DeniedError(StepError):
    """A security rule refused the step (path escape, forbidden ref...); never retried."""

    kind = "denied"


class StepCancelledError(StepError):
    """Raised inside a sync handler by `StepContext.run` when the step was cancelled."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem found in a step's config.

    Attributes:
        pointer: RFC 6901 JSON pointer relative to the config (`/paths/0`, `""` for the whole config).
        message: what is wrong there.
    """

    pointer: str
    message: str


@dataclass(frozen=True)
class StepFailureInfo:
    """How a step attempt failed.

    Attributes:
        kind: `"error"` (retryable), `"config"` or `"denied"` (never retried).
        message: the user-facing message.
    """

    kind: str
    message: str


def failure_of(exc: BaseException) -> StepFailureInfo:
    """Map an exception raised by a handler to the failure sent to the engine (no traceback)."""
    if isinstance(exc, StepError):
        return StepFailureInfo(exc.kind, exc.message)
    return StepFailureInfo("error", f"{type(exc).__name__}: {exc}")
