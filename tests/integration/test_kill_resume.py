"""Kill a real run (tiny preset, real model and data) with SIGKILL at several points, rerun the same
command each time, and require: every kill really happened, no finished stage was redone, cached
generations were not regenerated, and the final leaderboard and per-sample records equal those of an
uninterrupted run. The kills come from failpoints (harness/run/faults.py): a real SIGKILL at a named place.
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]      # trains: make test-slow (CI)

# In stage order: (failpoint, what is in flight when it fires)
KILLS = [
    ("stage-done:choice/query_m0", "MCQA knowledge query written, its DONE not yet"),
    ("sft-save@1", "rehearsal SFT, right after its first epoch's checkpoint"),
    # 4th committed batch: the two of the MCQA rehearsed query (option scores, 8 + 4 prompts), then
    # two of the OEQA knowledge query (4 prompts x 2 samples each)
    ("gencache-put@4", "OEQA knowledge query, after two batches of samples"),
    ("write:records.jsonl", "evaluation, records written to a temp file, not yet renamed"),
    ("write:leaderboard.json", "leaderboard writing, between temp file and rename"),
]


def bench(out: Path, data_dir, failpoint: str | None = None) -> subprocess.CompletedProcess:
    """The bench in a session of its own, its output in a file: a process it left behind can hold
    no pipe of ours open, and is killed with the session (a SIGKILLed parent leaves its children)."""
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_FAILPOINT"}
    if failpoint:
        env["HARNESS_FAILPOINT"] = failpoint
    cmd = [sys.executable, "-m", "harness.cli", "bench", "--methods", "craft,rait", "--tasks", "triviaqa,mmlu",
           "--preset", "tiny", "--batch-size", "8", "--data-dir", str(data_dir), "--out", str(out),
           "--dtype", "float32"]                # bf16 is not bitwise repeatable across processes here
    log = out.parent / f"{out.name}.log"
    with open(log, "w") as sink:
        proc = subprocess.Popen(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=900)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    text = log.read_text()
    return subprocess.CompletedProcess(cmd, proc.returncode, text, text)


def done_markers(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in out.glob("runs/*/**/DONE")}


def outputs(out: Path) -> dict[str, str]:
    run = next((out / "runs").iterdir())
    files = list(run.glob("eval/*/*/records.jsonl")) + list(run.glob("*/query_*/knowledge.jsonl")) \
        + list(run.glob("*/*/build/sft_data.jsonl"))
    return {str(p.relative_to(run)): p.read_text() for p in files} | \
        {"leaderboard.json": (out / "leaderboard.json").read_text()}


def cache_rows(out: Path) -> dict[str, tuple]:
    with sqlite3.connect(out / "cache" / "generations.sqlite") as db:
        return {k: (rowid, v) for rowid, k, v in db.execute("SELECT rowid, key, value FROM gen")}


def test_sigkill_at_any_stage_then_rerun_gives_the_uninterrupted_result(tmp_path, data_dir):
    reference = tmp_path / "uninterrupted"
    first = bench(reference, data_dir)
    assert first.returncode == 0, first.stderr[-3000:]

    out = tmp_path / "killed"
    log = []
    for point, what in KILLS:
        before_done, before_cache = done_markers(out), (cache_rows(out) if (out / "cache").exists() else {})
        res = bench(out, data_dir, point)
        assert res.returncode == -signal.SIGKILL, f"{point} ({what}) did not fire: rc {res.returncode}\n{res.stderr[-2000:]}"
        after_done = done_markers(out)
        # Nothing finished before this run was redone: every earlier DONE is byte-identical.
        assert {k: after_done.get(k) for k in before_done} == before_done, point
        after_cache = cache_rows(out) if (out / "cache").exists() else {}
        assert {k: after_cache.get(k) for k in before_cache} == before_cache, point   # same rowid: not regenerated
        log.append((point, len(after_done) - len(before_done), len(after_cache) - len(before_cache)))

    assert not (out / "leaderboard.json").exists()        # killed before the rename: no half file either
    assert list(out.glob(".leaderboard.json.*"))           # the orphaned temp file is all that is left
    before_done = done_markers(out)
    final = bench(out, data_dir)
    assert final.returncode == 0, final.stderr[-3000:]
    assert {k: done_markers(out)[k] for k in before_done} == before_done
    assert json.loads((out / "leaderboard.json").read_text()) == json.loads((reference / "leaderboard.json").read_text())
    assert outputs(out) == outputs(reference)
    # that kill left 12 option scores and two OEQA batches (16 samples) committed, reused afterwards
    assert log[2][2] == 12 + 16
