"""The claim grace: after storage was away, claim only free runs for one lease length."""

from __future__ import annotations

from vwmp_engine.claim_grace import ClaimGrace


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_claims_take_expired_leases_until_storage_is_away_then_not_for_a_lease_length_after() -> None:
    clock = Clock()
    grace = ClaimGrace(10.0, clock)
    grace.reachable()
    assert not grace.free_only()  # storage was never away: a dead replica's runs are taken over as always
    grace.unreachable(ConnectionError("database unavailable, try again"))
    assert grace.free_only()
    clock.now += 60  # a minute-long outage: the grace counts from when storage answers, not from the outage
    assert grace.free_only()
    grace.reachable()
    clock.now += 9.9
    assert grace.free_only()
    grace.reachable()  # answered again: the grace does not start over
    clock.now += 0.2
    assert not grace.free_only()
