"""The database handle: an engine plus read and write transactions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from sqlalchemy.engine import Connection

from vwmp_storage import dialect
from vwmp_storage.dialect import WouldWait

# Set while a call runs on the event loop: its SQLite writes begin at once or raise WouldWait.
NO_WAIT: ContextVar[bool] = ContextVar("vwmp_storage_no_wait", default=False)


class Database:
    """Hands out transactions; writes are serialised the way the dialect needs."""

    def __init__(self, url: str, pool_size: int = 16) -> None:
        self.url = url
        self.engine = dialect.build_engine(url, pool_size=pool_size)
        self.is_sqlite = dialect.is_sqlite(self.engine)
        self._write_engine = self.engine.execution_options(**{dialect.WRITE_OPTION: True})
        self._no_wait_engine = self._write_engine.execution_options(**{dialect.NO_WAIT_OPTION: True})
        self._writer_lock = dialect.writer_lock(self.engine)

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed when the block ends without an exception.

        Under NO_WAIT on SQLite it begins only if no other writer holds the database, in this
        process or another; otherwise WouldWait, before anything is written.
        """
        lock = self._writer_lock
        if lock is None:
            with self._write_engine.begin() as conn:
                yield conn
            return
        if NO_WAIT.get():
            if not lock.acquire(blocking=False):
                raise WouldWait("another write of this process is under way")
            try:
                with self._no_wait_engine.begin() as conn:
                    yield conn
            finally:
                lock.release()
            return
        with lock, self._write_engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot on both dialects)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
