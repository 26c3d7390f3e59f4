"""Timestamps: as the API shows them (RFC 3339, UTC) and as the protos carry them (`google.protobuf.Timestamp`)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str:
    """RFC 3339 text of a moment ('' for none); naive datetimes are taken as UTC."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """The UTC moment of RFC 3339 text, as `iso` writes it ('Z') or with any offset.

    Raises:
        ValueError: the text is not an ISO 8601 timestamp, or it has no UTC offset (a local time
            would be read differently on every host).
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment.astimezone(UTC)


def to_timestamp(moment: datetime | None) -> Timestamp:
    """The protobuf Timestamp of a moment (the empty Timestamp for none); naive datetimes are taken as UTC.

    Microseconds are kept: rounding to what the API shows is `iso`'s job, at the edge.
    """
    if moment is None:
        return Timestamp()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    since = moment - _EPOCH  # by arithmetic: half the cost of FromDatetime, on every event storage answers
    return Timestamp(seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1000)


def from_timestamp(stamp: Timestamp) -> datetime | None:
    """The aware UTC moment of a protobuf Timestamp; None when it is unset (all zero, as proto3 reads an
    absent field: no platform moment is the Unix epoch itself)."""
    if not stamp.seconds and not stamp.nanos:
        return None
    return stamp.ToDatetime(tzinfo=UTC)
