"""Which failures mean "the database is away for now", answered UNAVAILABLE so callers try again.

A database that is stopped, restarting or unreachable shows up in many forms: SQLAlchemy's
OperationalError (connection refused, "terminating connection due to administrator command", the
server closing a connection in the middle of a transaction), InterfaceError (a connection already
closed), any DBAPI error after which SQLAlchemy invalidated the connection, or the pool timing out
while every connection waits. None of them says the request was wrong, so none is INTERNAL: the
callers (the engine's transition log, the gateway) wait and try again, and the pool replaces the
dead connections by itself (`pool_pre_ping`, and an invalidated connection is never handed out again).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import exc

log = logging.getLogger(__name__)
UNAVAILABLE_DETAIL = "database unavailable, try again"


def database_away(error: BaseException) -> bool:
    """Whether `error` says the database cannot be used right now (rather than that the request is wrong)."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError))


class DatabaseAway:
    """Logs an outage once when it starts, every `every` seconds while it lasts, and once when it ends.

    Every call refused during an outage would otherwise log a line of its own (hundreds a second).
    Called from the servicer's worker threads, hence the lock.
    """

    def __init__(self, every: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._since: float | None = None  # when the first call was refused
        self._logged = 0.0
        self._refused = 0

    def seen(self, method: str, error: BaseException) -> None:
        """A call failed because the database is away."""
        cause = getattr(error, "orig", None) or error
        reason = f"{type(cause).__name__}: {str(cause).strip().splitlines()[0] if str(cause).strip() else ''}"
        with self._lock:
            now = self._clock()
            self._refused += 1
            if self._since is None:
                self._since, self._logged = now, now
                log.warning("database unavailable; answering UNAVAILABLE until it is back",
                            extra={"fields": {"method": method, "error": reason}})
            elif now - self._logged >= self._every:
                self._logged = now
                log.warning("database still unavailable", extra={"fields": {
                    "method": method, "error": reason, "seconds": round(now - self._since, 1),
                    "refused_calls": self._refused}})

    def answered(self) -> None:
        """A call succeeded: an outage under way is over."""
        if self._since is None:  # the common case, without the lock
            return
        with self._lock:
            since, self._since = self._since, None
            refused, self._refused = self._refused, 0
        if since is not None:  # another thread may have ended it meanwhile
            log.warning("database available again", extra={"fields": {
                "seconds": round(self._clock() - since, 1), "refused_calls": refused}})
