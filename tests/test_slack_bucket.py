"""The token bucket background loops pace their own Slack calls with."""

from __future__ import annotations

from bot.slack.bucket import Bucket


def test_a_burst_then_nothing_until_it_refills() -> None:
    bucket = Bucket(per_minute=1.0, burst=3)  # one a minute: no refill within this test
    assert bucket.available() == 3
    bucket.spend(2)
    assert bucket.available() == 1
    bucket.spend(1)
    assert bucket.available() == 0


def test_calls_that_could_not_wait_are_owed() -> None:
    bucket = Bucket(per_minute=1.0, burst=2)
    bucket.spend(5)  # e.g. tabs opened: published at once, counted all the same
    assert bucket.available() == 0
    bucket.spend(100)
    assert bucket.available() == 0  # owed at most one burst's worth
