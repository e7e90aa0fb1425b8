"""A serving process freezes what start-up allocated and collects its youngest objects less often."""

from __future__ import annotations

import subprocess
import sys

from gateway.runtime import GC_YOUNG_THRESHOLD


def test_tune_gc_for_serving_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    # In a process of its own: the test process's collector must stay as CPython sets it.
    script = (
        "import gc\n"
        "from gateway.runtime import tune_gc_for_serving\n"
        "before = gc.get_freeze_count()\n"
        "tune_gc_for_serving()\n"
        "print(before, gc.get_freeze_count() > 1000, gc.get_threshold()[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "True", str(GC_YOUNG_THRESHOLD)]
