"""The long-running processes collect garbage less often, and never look at their start-up objects again."""

from __future__ import annotations

import subprocess
import sys


def test_tuning_freezes_what_exists_and_raises_the_young_threshold() -> None:
    code = (
        "import gc\n"
        "from whatsapp_builder.core.runtime import YOUNG_GENERATION_THRESHOLD, tune_garbage_collector\n"
        "before = gc.get_threshold()\n"
        "tune_garbage_collector()\n"
        "after = gc.get_threshold()\n"
        "assert gc.get_freeze_count() > 1000, gc.get_freeze_count()\n"
        "assert after == (YOUNG_GENERATION_THRESHOLD, before[1], before[2]), (before, after)\n"
        "assert gc.isenabled()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
