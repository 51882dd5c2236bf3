"""The project's Cloud API simulator, unchanged, run with a bigger history and a few read-only probes for bench/.

Why not `whatsapp-builder simulator`: the bench needs the time each customer's first reply arrived, for
thousands of customers a second, and asking `/_simulator/messages` for each would add that much HTTP load to
the machine being measured. So this runs the same `create_simulator_app` with the same settings as the CLI
(and a history of 200,000 sends) and adds, without changing any behaviour:

- `GET /_bench/stats`: counters (sends, read receipts, status webhooks posted / answered 2xx, their latency
  as seen by the simulator, i.e. our server's acknowledgement time), and how many status tasks are in flight;
- `POST /_bench/take`: returns and forgets `{to: unix time of the first send to that number}` recorded since
  the last take (the end-to-end probe: time from our inbound webhook POST to the first reply reaching "Meta").

Usage: python -m bench.simhost --port P --webhook-url URL [--history-limit N]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import uvicorn
from fastapi import Request

from whatsapp_builder.core.runtime import tune_garbage_collector
from whatsapp_builder.simulator import app as sim_app
from whatsapp_builder.simulator.settings import SimulatorSettings


class Probe:
    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.sends = 0
        self.reads = 0
        self.status_posted = 0
        self.status_ok = 0
        self.status_latency: list[float] = []

    def stats(self) -> dict[str, Any]:
        lat = sorted(self.status_latency)

        def pct(p: float) -> float | None:
            return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else None

        return {"sends": self.sends, "reads": self.reads, "statusPosted": self.status_posted,
                "statusOk": self.status_ok, "statusP50Ms": pct(0.50), "statusP99Ms": pct(0.99),
                "statusSamples": len(lat), "firstCount": len(self.first)}


PROBE = Probe()


def install_probes() -> None:
    original_accept = sim_app._accept
    original_mark_read = sim_app._mark_read
    original_post = sim_app.post_signed

    def accept(state: Any, version: str, body: dict[str, Any]) -> Any:
        now = time.time()
        response = original_accept(state, version, body)
        PROBE.sends += 1
        to = body.get("to")
        if isinstance(to, str) and to not in PROBE.first:
            PROBE.first[to] = now
        return response

    def mark_read(state: Any, body: dict[str, Any]) -> Any:
        PROBE.reads += 1
        return original_mark_read(state, body)

    async def post_signed(state: Any, payload: dict[str, Any], *, retries: int | None = None) -> Any:
        is_status = False
        try:
            is_status = "statuses" in payload["entry"][0]["changes"][0]["value"]
        except (KeyError, IndexError, TypeError):
            pass
        started = time.perf_counter()
        response = await original_post(state, payload, retries=retries)
        if is_status:
            PROBE.status_posted += 1
            if response.is_success:
                PROBE.status_ok += 1
            if len(PROBE.status_latency) < 2_000_000:
                PROBE.status_latency.append(time.perf_counter() - started)
        return response

    sim_app._accept = accept  # type: ignore[assignment]
    sim_app._mark_read = mark_read  # type: ignore[assignment]
    sim_app.post_signed = post_signed  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--webhook-url", required=True)
    parser.add_argument("--history-limit", type=int, default=200_000)
    args = parser.parse_args()
    install_probes()
    settings = SimulatorSettings(webhook_url=args.webhook_url, history_limit=args.history_limit)
    app = sim_app.create_simulator_app(settings)

    @app.get("/_bench/stats")
    async def stats(request: Request) -> dict[str, Any]:
        state = request.app.state.simulator
        return PROBE.stats() | {"inFlightStatusTasks": len(state.tasks)}

    @app.post("/_bench/take")
    async def take() -> dict[str, Any]:
        first, PROBE.first = PROBE.first, {}
        PROBE.status_latency = []
        return {"first": first}

    # First in the routing table: the simulator's catch-all Graph routes (/{version}/{id}) must not shadow them.
    ours = [r for r in app.router.routes if getattr(r, "path", "").startswith("/_bench/")]
    app.router.routes[:] = ours + [r for r in app.router.routes if r not in ours]
    tune_garbage_collector()  # as `whatsapp-builder simulator` does
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
