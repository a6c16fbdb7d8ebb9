"""Failpoints: named places where a test can make the process die as if killed with SIGKILL.

    HARNESS_FAILPOINT=write:leaderboard.json    # after the temp file is written, before the rename
    HARNESS_FAILPOINT=gencache-put@2            # after the 2nd committed batch of generations
    HARNESS_FAILPOINT=sft-save@1                # right after SFT wrote its first checkpoint
    HARNESS_FAILPOINT=stage-done:open/query_m0  # after a stage's outputs, before its DONE

The kill is a real SIGKILL (no cleanup, no atexit, no flushing), so the resume tests see exactly what
a killed run leaves behind; with HARNESS_FAILSIGNAL=INT it is a real SIGINT instead (a Ctrl-C at that
point). Without the variable a failpoint costs one dictionary lookup.
"""
from __future__ import annotations

import os
import signal
from collections import Counter

_hits: Counter = Counter()


def failpoint(name: str) -> None:
    wanted = os.environ.get("HARNESS_FAILPOINT")
    if not wanted:
        return
    point, _, nth = wanted.partition("@")
    if point != name:
        return
    _hits[name] += 1
    if _hits[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGINT if os.environ.get("HARNESS_FAILSIGNAL") == "INT" else signal.SIGKILL)
