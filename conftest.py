"""Repository-wide pytest hooks: the three test tiers, and no skips under `make test`.

Tiers (STYLE.md "Tests"), selected by the Makefile's `make test-unit|test-integration|test-e2e`:
- e2e: every module under tests/e2e/ declares `pytestmark = pytest.mark.e2e` (checked here, so a new
  module cannot slip into the faster tiers);
- integration: a test that needs a real service beyond in-process SQLite. It is marked by hand
  (`pytest.mark.integration`, e.g. tests that start service processes) or, automatically here, because
  it uses a fixture that starts or opens one (`INTEGRATION_FIXTURES`);
- unit: everything else.
The Makefile selects with `not integration and not e2e`, `integration and not e2e` and `e2e`, which
split any suite without a gap or an overlap; `make check-tiers` proves it against the collected suite.

With VWMP_FAIL_ON_SKIP=1 (as `make test` and CI set it) a skipped test fails
the run: on this platform everything the suite needs is available.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# pytest-xdist workers run with COLUMNS=80; the CLI's consoles would keep that width from import on,
# and the CLI tests give each invocation its own width.
os.environ.pop("COLUMNS", None)

E2E_DIR = Path(__file__).resolve().parent / "tests" / "e2e"
# Tests that build and run the images: `make test-containers` only (marker `containers`, tier e2e).
CONTAINERS_DIR = Path(__file__).resolve().parent / "tests" / "containers"
# Fixtures that give a test a real service: a nats-server process, a PostgreSQL database.
INTEGRATION_FIXTURES = frozenset({"nats_server", "postgres_url"})


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by the markers added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = []
    for item in items:
        if item.get_closest_marker("e2e") is None and item.path.is_relative_to(E2E_DIR):
            unmarked.append(item.nodeid)
        if item.path.is_relative_to(CONTAINERS_DIR) and (
            item.get_closest_marker("containers") is None or item.get_closest_marker("e2e") is None
        ):
            unmarked.append(item.nodeid)
        if item.get_closest_marker("integration") is None and INTEGRATION_FIXTURES & set(
            getattr(item, "fixturenames", ())
        ):
            item.add_marker(pytest.mark.integration)
    if unmarked:
        raise pytest.UsageError(
            "tests under tests/e2e/ must be marked e2e (`pytestmark = pytest.mark.e2e`), under tests/containers/"
            " e2e and containers: " + ", ".join(unmarked)
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("VWMP_FAIL_ON_SKIP") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        reporter.write_line(f"FAILED: {skipped} test(s) skipped; nothing may be skipped here", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
