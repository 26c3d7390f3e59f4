"""A private PostgreSQL cluster for fault tests: a server of the test's own it may stop and start.

The machine's own server is shared by every suite; stopping it would fail them all. This one lives
in a temporary folder, listens on a free port of 127.0.0.1 (trust authentication, user `postgres`)
and is gone when the test ends. PostgreSQL refuses to run as root, so when the tests run as root
the cluster belongs to the `postgres` user and its programs run as that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import psycopg
from vwmp_common.ports import free_port

DATABASE = "vwmp"
SERVER_USER = "postgres"  # who owns the cluster when the tests run as root
START_SECONDS = 60


def _program(name: str) -> str:
    """A PostgreSQL program from PATH, else from the folder `pg_config --bindir` names."""
    found = shutil.which(name)
    if found:
        return found
    pg_config = shutil.which("pg_config")
    if pg_config:
        folder = subprocess.run([pg_config, "--bindir"], check=True, capture_output=True, text=True).stdout.strip()
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    raise FileNotFoundError(f"{name}: not found on PATH; install PostgreSQL's server programs")


class PostgresCluster:
    """initdb into a temporary folder, then `pg_ctl start/stop` on demand.

    Use it as a context manager: the server is started on entering and stopped and deleted on leaving.
    `url` is a SQLAlchemy URL of the database `vwmp` (created at the first start).
    """

    def __init__(self, port: int = 0) -> None:
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="vwmp-postgres-"))
        self.data = self.root / "data"
        self.log_file = self.root / "server.log"
        self._user = SERVER_USER if os.geteuid() == 0 else None
        self._created = False

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the cluster's database (psycopg 3)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *argv: str) -> None:
        done = subprocess.run(argv, user=self._user, capture_output=True, text=True, cwd=self.root,
                              timeout=START_SECONDS, check=False)
        if done.returncode:
            log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr.strip()}\n{log}")

    def init(self) -> None:
        """Create the cluster: trust authentication, 127.0.0.1 only, its socket in its own folder."""
        if self._user is not None:
            account = pwd.getpwnam(self._user)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._run(_program("initdb"), "--pgdata", str(self.data), "--username", "postgres", "--auth", "trust",
                  "--encoding", "UTF8", "--no-sync")
        settings = (f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n"
                    # fsync off: a stopped or killed server loses nothing (the OS keeps the writes); only a
                    # machine crash would, and nothing here outlives the test.
                    "fsync = off\nmax_connections = 200\n")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(settings)

    def start(self) -> None:
        """Start the server and wait until it accepts connections (the database exists after the first)."""
        self._run(_program("pg_ctl"), "start", "--pgdata", str(self.data), "--log", str(self.log_file),
                  "--wait", "--timeout", str(START_SECONDS))
        if not self._created:
            admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
            with psycopg.connect(admin, autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{DATABASE}"')
            self._created = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` ends every session (clients see their connection closed), then it is down."""
        self._run(_program("pg_ctl"), "stop", "--pgdata", str(self.data), "--mode", mode, "--wait",
                  "--timeout", str(START_SECONDS))

    def running(self) -> bool:
        """Whether the server is up (pg_ctl status)."""
        done = subprocess.run([_program("pg_ctl"), "status", "--pgdata", str(self.data)], user=self._user,
                              capture_output=True, check=False)
        return done.returncode == 0

    def __enter__(self) -> PostgresCluster:
        try:
            self.init()
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        """Stop the server if it runs (immediately: nothing in it is kept) and delete the folder."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
