"""Domain errors: each maps to one gRPC status code in `rpc.py`.

Domain modules raise these with a message meant for a person (naming the field
or the object), so no transport type leaks below the servicer.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every refusal the storage domain can explain to a caller."""


class InvalidArgument(StorageError):
    """The request is malformed; the message names the field."""


class NotFound(StorageError):
    """The named object does not exist."""


class AlreadyExists(StorageError):
    """The object to create is already there."""


class FailedPrecondition(StorageError):
    """The request conflicts with the current state (stale version, terminal run)."""


class Aborted(StorageError):
    """The caller lost its lease: another engine owns the run now (fencing)."""


class Unauthenticated(StorageError):
    """The token secret is unknown, revoked or expired."""
