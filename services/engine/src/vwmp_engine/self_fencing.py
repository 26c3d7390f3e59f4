"""When a replica stops executing a run by itself: its lease went unrenewed and storage does not answer.

Storage refuses the writes of a replica whose lease another one claimed (epoch fencing), but it cannot
stop what that replica does outside storage: a plugin call in flight keeps running on its host while
the new owner dispatches the step again. So a replica that cannot renew a run's lease stops the run
itself before the lease can expire: at `FENCE_AT` of the lease since the last renewal storage confirmed
(counted from when that renewal was *sent*, so a late answer still counts), it cancels the run's
plugin calls and writes nothing more. Another replica can claim the run only once the lease expired
(at the earliest a full lease after that renewal was sent), so the two never execute it at once.

Only an unreachable storage fences: renewals that are merely slow (storage busy with transition
writes, its database away for a moment) do not. Once a lease is overdue (`PROBE_AFTER`) the replica
asks storage's gRPC health service, which answers from its event loop whatever its worker threads and
its database do; an answer within `REACH_WINDOW` means storage is there and the renewal will come.
A refused connection counts as an answer too: storage is down (stopped, restarting) for every replica
alike, none can claim through it, and once it is back the claim grace (claim_grace.py) keeps them all
off expired leases for a lease length while the owner renews. What fences is silence: a health check
that gets no answer at all in time, as across a partition or to a host that is gone.
"""

from __future__ import annotations

import time
from collections.abc import Callable

RENEW_EVERY = 0.25  # renewals go out on a fixed beat, every quarter of the lease, whatever the last one did
WATCH_EVERY = 0.05  # how often leases are checked for being overdue
PROBE_AFTER = 0.5  # a lease unconfirmed this long is overdue: storage's health is asked, once a beat
PROBE_TIMEOUT = 0.2  # a health answer later than this (share of the lease) is no answer
REACH_WINDOW = 0.4  # storage counts as reachable when it answered anything this recently
FENCE_AT = 0.85  # an overdue lease this old, with storage unreachable, is fenced: the run stops here


class Reachability:
    """Whether storage answers, and which overdue leases must be fenced now; `clock` is monotonic seconds."""

    def __init__(self, lease_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._answered = clock()

    def answered(self) -> None:
        """Storage answered a call (a renewal, a claim, a health check) just now."""
        self._answered = self.clock()

    def reachable(self) -> bool:
        """Whether storage answered anything within the last `REACH_WINDOW` of a lease."""
        return self.clock() - self._answered <= REACH_WINDOW * self.lease_seconds

    def overdue(self, renewed: float) -> bool:
        """Whether a lease last confirmed by a renewal sent at `renewed` should have been renewed again."""
        return self.clock() - renewed >= PROBE_AFTER * self.lease_seconds

    def must_fence(self, renewed: float) -> bool:
        """Whether a lease confirmed at `renewed` is about to run out with storage unreachable: stop the run."""
        return self.clock() - renewed >= FENCE_AT * self.lease_seconds and not self.reachable()
