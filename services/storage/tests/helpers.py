"""Small builders shared by the tests."""

from __future__ import annotations

import json

from vwmp_storage.runs import Run
from vwmp_storage.storage import Storage

DEFINITION = {
    "apiVersion": "vwmp/v1",
    "kind": "Workflow",
    "metadata": {"name": "release", "type": "release"},
    "spec": {"steps": [{"id": "a", "uses": "core/noop"}, {"id": "b", "uses": "core/noop", "needs": ["a"]}]},
}


def definition(**changes: object) -> str:
    """The sample definition as JSON text, with top-level changes."""
    return json.dumps({**DEFINITION, **changes})


def new_run(storage: Storage, name: str = "release", steps: tuple[str, ...] = ("a", "b")) -> Run:
    """A queued run of a freshly created workflow."""
    try:
        storage.definitions.get(name)
    except Exception:
        storage.definitions.create(name, definition(), "tester")
    return storage.runs.create(name, 0, '{"part": "patch"}', False, "tester", [(s, "core/noop") for s in steps])
