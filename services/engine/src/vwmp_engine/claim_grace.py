"""After storage was unreachable, take over no run for a lease length: its owner is probably alive.

While storage (or its database) is away no replica can renew a lease, so every lease expires;
the runs are still executing on live replicas, their steps in flight on the plugin hosts. The
first replica to claim once storage answers again would take them all over and dispatch those
steps again (a new attempt: the step done twice). So for one lease length after storage answers
again this replica claims only free runs (new or released, `ClaimRunsRequest.free_only`): the
owners renew within a quarter of a lease. A run whose owner really died meanwhile is taken over
one lease length later than otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class ClaimGrace:
    """Says whether to claim only free runs now: while storage is away and for `seconds` after it is back."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._away = False
        self._until = 0.0

    def unreachable(self, error: Exception) -> None:
        """A call to storage found it away (UNAVAILABLE, DEADLINE_EXCEEDED); logged once per outage."""
        if not self._away:
            log.warning("storage unavailable; claims and lease renewals wait for it", extra={"fields": {
                "error": str(error)}})
        self._away = True

    def reachable(self) -> None:
        """A call to storage was answered: if it was away, the grace starts now."""
        if self._away:
            self._away = False
            self._until = self._clock() + self.seconds
            log.info("storage answers again; taking over no expired lease for a while", extra={"fields": {
                "grace_seconds": self.seconds}})

    def free_only(self) -> bool:
        """Whether a claim now must leave runs with an expired lease alone."""
        return self._away or self._clock() < self._until
