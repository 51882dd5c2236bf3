"""The lags workers report to `serve --no-workers` (jobs/lane_lag.py), as one figure."""

from __future__ import annotations

from whatsapp_builder.jobs.lane_lag import LaneLag


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_largest_fresh_report_counts_until_it_expires_or_its_worker_catches_up() -> None:
    clock = Clock()
    lag = LaneLag(expiry=3.0, clock=clock)
    assert lag.current() == 0.0
    lag.heard("host-a:11 1.500")
    lag.heard("host-b:12 4.250")
    assert lag.current() == 4.25
    lag.heard("host-b:12 0.000")  # b caught up
    assert lag.current() == 1.5
    clock.now += 3.5  # a stopped reporting: died, or stopped without a last word
    assert lag.current() == 0.0


def test_reports_that_make_no_sense_are_ignored() -> None:
    lag = LaneLag()
    for payload in ("", "w", "w x", "w -1", "w nan", "w inf"):
        lag.heard(payload)
    assert lag.current() == 0.0
    lag.heard("worker with spaces in its name 2")
    assert lag.current() == 2.0
