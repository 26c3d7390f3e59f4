"""First start: create an admin token and leave its secret in $VWMP_DATA_DIR/admin-token (0600)."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from vwmp_common.clients import StorageStub
from vwmp_common.timeutil import to_timestamp, utcnow
from vwmp_proto.storage.v1 import storage_pb2

log = logging.getLogger(__name__)


def _write_secret(path: Path, secret: str) -> None:
    """Publish the file complete or not at all: a reader never sees it empty (FileExistsError if taken)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secret + "\n")
        os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)


async def ensure_admin_token(storage: StorageStub, path: Path) -> bool:
    """Create the bootstrap admin token unless its file exists; True when one was created."""
    if await asyncio.to_thread(path.exists):
        log.info("admin token file present", extra={"fields": {"path": str(path)}})
        return False
    created = await storage.CreateToken(
        storage_pb2.CreateTokenRequest(name="admin", role="admin", created_by="bootstrap")
    )
    try:
        _write_secret(path, created.secret)
    except FileExistsError:  # another gateway replica won the race: drop ours
        await storage.RevokeToken(storage_pb2.RevokeTokenRequest(id=created.token.id))
        return False
    await storage.AppendAudit(storage_pb2.AuditEntry(
        at=to_timestamp(utcnow()), actor="bootstrap", action="token.create", target=f"tokens/{created.token.id}",
        outcome="ok",
        detail_json="{}",
    ))
    log.info("admin token created", extra={"fields": {"path": str(path)}})
    return True
