"""Kill a real bench with SIGKILL again and again, rerun it each time, compare with an uninterrupted run.

    .venv/bin/python ci/kill_resume.py --out results/killed --reference results/ci/leaderboard.json \
        [--preset smoke] [--methods craft,rait] [--tasks triviaqa,mmlu] [--random-kills 3]

First at each failpoint (harness/run/faults.py: a real SIGKILL in the knowledge query, in SFT after a
checkpoint, in evaluation, in leaderboard writing), then at random moments from outside
(`--random-kills`, uniformly within the expected remaining time), then once to the end. Prints what
each kill interrupted, which stages each rerun recomputed, and whether the final leaderboard equals the
reference (exit 1 if not). The reference is the leaderboard.json of an uninterrupted run of the same
command (e.g. `make bench OUT=results/ci`).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

FAILPOINTS = ["stage-done:choice/query_m0", "sft-save@1", "gencache-put@20", "write:records.jsonl",
              "write:leaderboard.json"]


def done_stages(out: Path) -> set[str]:
    return {str(p.parent.relative_to(out)) for p in out.glob("runs/*/**/DONE")}


def run(cmd: list[str], failpoint: str | None = None, kill_after: float | None = None) -> tuple[int, float]:
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_FAILPOINT"}
    if failpoint:
        env["HARNESS_FAILPOINT"] = failpoint
    start = time.time()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return proc.returncode, time.time() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="a new output directory for the interrupted run")
    ap.add_argument("--reference", required=True, help="leaderboard.json of an uninterrupted run")
    ap.add_argument("--preset", default="smoke")
    ap.add_argument("--methods", default="craft,rait")
    ap.add_argument("--tasks", default="triviaqa,mmlu")
    ap.add_argument("--random-kills", type=int, default=3)
    ap.add_argument("--expected-seconds", type=float, default=480, help="uninterrupted wall time")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random kill times")
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        sys.exit(f"{out} is not empty; give a new --out")
    cmd = [sys.executable, "-m", "harness.cli", "bench", "--methods", args.methods, "--tasks", args.tasks,
           "--preset", args.preset, "--out", str(out)]
    report = []
    spent = 0.0
    plan = [("failpoint", f) for f in FAILPOINTS]
    rnd = random.Random(args.seed)
    for point, arg in plan:
        before = done_stages(out)
        rc, secs = run(cmd, failpoint=arg)
        spent += secs
        report.append({"kill": arg, "rc": rc, "seconds": round(secs, 1),
                       "stages_finished": sorted(done_stages(out) - before)})
        print(json.dumps(report[-1]), flush=True)
        if rc != -signal.SIGKILL:
            sys.exit(f"failpoint {arg} did not fire (exit {rc})")
    print(f"{spent:.0f} s across {len(plan)} killed invocations", flush=True)
    final_rc, final_s = run(cmd)
    ok = json.loads((out / "leaderboard.json").read_text()) == json.loads(Path(args.reference).read_text())
    print(json.dumps({"final_rc": final_rc, "final_seconds": round(final_s, 1), "identical_to_reference": ok}))

    # Timed kills need work left to interrupt: a second, fresh output directory.
    timed = out.with_name(out.name + "-timed")
    if timed.exists() and any(timed.iterdir()):
        sys.exit(f"{timed} is not empty")
    cmd_t = cmd[:-1] + [str(timed)]
    for _ in range(args.random_kills):
        after = rnd.uniform(20, max(30.0, args.expected_seconds / (args.random_kills + 1)))
        before = done_stages(timed) if timed.exists() else set()
        rc, secs = run(cmd_t, kill_after=after)
        report.append({"kill": f"after {after:.0f} s", "rc": rc,
                       "stages_finished": sorted(done_stages(timed) - before)})
        print(json.dumps(report[-1]), flush=True)
    rc_t, secs_t = run(cmd_t)
    ok_t = json.loads((timed / "leaderboard.json").read_text()) == json.loads(Path(args.reference).read_text())
    print(json.dumps({"timed_final_rc": rc_t, "timed_final_seconds": round(secs_t, 1), "identical_to_reference": ok_t}))
    (out / "kill_resume.json").write_text(json.dumps({"kills": report, "identical": ok, "identical_timed": ok_t},
                                                     indent=2) + "\n")
    sys.exit(0 if ok and ok_t and final_rc == 0 and rc_t == 0 else 1)


if __name__ == "__main__":
    main()
