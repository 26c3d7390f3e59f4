"""The database handle: an engine plus read and write transactions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy.engine import Connection

from vwmp_storage import dialect


class Database:
    """Hands out transactions; writes are serialised the way the dialect needs."""

    def __init__(self, url: str, pool_size: int = 16) -> None:
        self.url = url
        self.engine = dialect.build_engine(url, pool_size=pool_size)
        self.is_sqlite = dialect.is_sqlite(self.engine)
        self._write_engine = self.engine.execution_options(**{dialect.WRITE_OPTION: True})
        self._writer_lock = dialect.writer_lock(self.engine)

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed when the block ends without an exception."""
        with self._writer_lock, self._write_engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot on both dialects)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
