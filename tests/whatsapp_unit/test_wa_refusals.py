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


async def test_nothing_is_written_once_closed_and_a_saved_config_drops_what_waited() -> None:
    from typing import Any, cast

    refusals = RefusedDeliveries(write_interval=3600)
    refusals._written_at = refusals.clock()  # a write just made: the next one waits its interval
    context = cast(Any, None)  # never reached: the waiting write is dropped before it runs
    refusals.signature_mismatch(context, "X-Hub-Signature-256 does not match the body.", shown=False)
    assert refusals._wanted is not None and refusals._writer is not None
    refusals.reset()  # PUT /api/whatsapp-config: judged against the config it replaced
    assert refusals._wanted is None
    await refusals.close()
    assert refusals._writer.cancelled() or refusals._writer.done()
    refusals.verified(context)  # after close: no new writer
    assert refusals._wanted is None and refusals._writer.done()
