"""Refused webhook deliveries are logged: each kind at once, then at most once a minute, counted."""

from __future__ import annotations

from structlog.testing import capture_logs

from whatsapp_builder.whatsapp.refusals import RefusedDeliveries


def test_each_kind_of_refusal_is_logged_at_once_then_at_most_once_an_interval_with_a_count() -> None:
    now = [100.0]
    refusals = RefusedDeliveries(log_interval=60.0, clock=lambda: now[0])
    with capture_logs() as logged:
        refusals.note("unsigned", 401, "Missing X-Hub-Signature-256 header.")
        refusals.note("malformed_json", 400, "The body is not valid JSON.")
        for _ in range(5):
            now[0] += 1
            refusals.note("unsigned", 401, "Missing X-Hub-Signature-256 header.")
        assert [(e["reason"], e["log_level"]) for e in logged] == [("unsigned", "warning"), ("malformed_json", "warning")]
        assert "more_since_last_logged" not in logged[0]
        now[0] += 60
        refusals.note("unsigned", 401, "Missing X-Hub-Signature-256 header.")
    assert len(logged) == 3
    assert logged[2]["reason"] == "unsigned" and logged[2]["more_since_last_logged"] == 5
    assert logged[2]["event"] == "webhook delivery refused"
