"""Settings of the Python runtime for the long-running processes (`serve`, `worker`, `simulator`)."""

from __future__ import annotations

import gc

# Objects allocated (net) before the youngest generation is collected: Python's default is 700. Under load a
# process allocates rows, events and requests by the hundred thousand per second, nearly all freed by reference
# counting; collecting that often cost the server a third of its CPU at 800 msg/s in the bench.
YOUNG_GENERATION_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Call once the process has built its long-lived objects (app, settings, imported modules): they leave the
    collector's view for good, and the youngest generation is collected less often."""
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, oldest)
