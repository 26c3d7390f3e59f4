"""RFC 3339 text in and out: what `iso` writes, `parse_iso` reads back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from vwmp_common.timeutil import from_timestamp, iso, parse_iso, to_timestamp, utcnow


def test_parse_iso_reads_back_what_iso_writes() -> None:
    moment = utcnow().replace(microsecond=123000)
    assert parse_iso(iso(moment)) == moment
    assert iso(moment).endswith("Z")


def test_an_offset_is_converted_to_utc() -> None:
    parsed = parse_iso("2026-03-01T12:00:00+02:00")
    assert parsed == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert parsed.utcoffset() == timedelta(0)
    assert parse_iso("2026-03-01T10:00:00Z") == parsed
    assert parse_iso("2026-03-01T10:00:00-00:00").tzinfo is not None
    assert parse_iso(datetime(2026, 3, 1, 12, tzinfo=timezone(timedelta(hours=2))).isoformat()) == parsed


@pytest.mark.parametrize(("text", "reason"), [
    ("2026-03-01T10:00:00", "has no UTC offset"),
    ("yesterday", "is not an RFC 3339 timestamp"),
    ("", "is not an RFC 3339 timestamp"),
])
def test_text_that_is_not_a_utc_moment_is_refused(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_iso(text)


def test_free_port_never_hands_out_a_port_twice() -> None:
    from vwmp_common.ports import free_port

    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)


def test_a_moment_travels_as_a_timestamp_and_comes_back_aware_utc_to_the_microsecond() -> None:
    moment = datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)
    stamp = to_timestamp(moment)
    assert (stamp.seconds, stamp.nanos) == (int(moment.timestamp()), 123456000)
    back = from_timestamp(stamp)
    assert back == moment and back is not None and back.tzinfo == UTC
    # another offset is the same moment; a naive datetime is taken as UTC
    assert to_timestamp(moment.astimezone(timezone(timedelta(hours=2)))) == stamp
    assert to_timestamp(moment.replace(tzinfo=None)) == stamp
    # the API text of the moment is what it was when timestamps travelled as text
    assert iso(from_timestamp(stamp)) == "2026-03-01T12:30:05.123Z"


def test_no_moment_is_the_unset_timestamp_and_the_unset_timestamp_is_none() -> None:
    assert to_timestamp(None) == Timestamp()
    assert from_timestamp(Timestamp()) is None
    assert iso(from_timestamp(Timestamp())) == ""
