"""The executors (harness.executors) on the scripted fake engine: a pool of 2 worker processes and
submitit's local executor give the local run's leaderboard and records byte for byte; a SIGKILLed
worker and a SIGKILLed run both resume to the same result; no stage runs twice at once; a stage reads
only what it declares; the generation cache's shards merge into the main file."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.bench import bench
from harness.executors import Executor, Job, run_job
from harness.run import layout
from harness.run.config import RunConfig
from harness.run.presets import PRESETS
from harness.run.stage import BusyError, EnginePool, Stage, StageContext, run_stages, stage_lock

METHODS, TASKS = ["init-refuse"], ["triviaqa", "mmlu"]


def _files(out: Path) -> dict[str, bytes]:
    """The leaderboard and every record and test file of OUT's run."""
    run_dir = next((out / "runs").iterdir())
    files = {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.glob("**/*.jsonl"))}
    return {"leaderboard.json": (out / "leaderboard.json").read_bytes(), **files}


def _bench(out: Path, data, script, executor: Executor = Executor()) -> dict[str, bytes]:
    cfg = RunConfig(model=script, preset=PRESETS["smoke"], data_dir=str(data), engine="fake")
    bench(cfg, METHODS, TASKS, out, executor=executor)
    return _files(out)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The scripted data and script, and what the local executor writes with them."""
    from support.scripted import write_data, write_script
    root = tmp_path_factory.mktemp("executors")
    data, script = write_data(root / "data"), write_script(root / "scripted.json")
    return data, script, _bench(root / "local", data, script)


def test_the_pool_and_submitits_local_executor_give_the_local_run_byte_for_byte(world, tmp_path):
    data, script, local = world
    assert len(local) > 8
    assert _bench(tmp_path / "pool", data, script, Executor("pool", workers=2)) == local
    assert _bench(tmp_path / "submitit", data, script, Executor("submitit", workers=2, cluster="local")) == local
    logs = next((tmp_path / "pool" / "runs").iterdir()) / layout.LOGS
    assert len(list(logs.glob("*.log"))) == 6           # 2 test stages and 2 models x 2 tasks: one job each


@pytest.mark.parametrize("executor", [Executor("pool", workers=2), Executor("submitit", workers=2, cluster="local")],
                         ids=["pool", "submitit-local"])
def test_a_killed_worker_ends_the_run_and_the_rerun_resumes_to_the_same_result(executor, world, tmp_path, monkeypatch):
    data, script, local = world
    monkeypatch.setenv("HARNESS_FAILPOINT", "stage-done:eval/init-refuse/triviaqa")     # that worker: SIGKILL
    with pytest.raises(RuntimeError, match="(?s)eval/init-refuse/triviaqa .*Run the same command"):
        _bench(tmp_path / "out", data, script, executor)
    run_dir = next((tmp_path / "out" / "runs").iterdir())
    assert not (run_dir / "eval/init-refuse/triviaqa" / layout.DONE).exists()
    monkeypatch.delenv("HARNESS_FAILPOINT")
    assert _bench(tmp_path / "out", data, script, executor) == local


def test_data_parallel_evaluation_joins_the_shards_records_in_order(world, tmp_path):
    """Each evaluation as 3 stages of a slice of its questions (4 TriviaQA, 2 MMLU: one slice empty),
    run by 2 workers: the joined records and the leaderboard are the single stage's."""
    data, script, local = world
    sharded = _bench(tmp_path / "sharded", data, script, Executor("pool", workers=2, shards=3))
    assert any(k.startswith("shards/eval/init-refuse/mmlu/3of3/") for k in sharded)
    assert {k: v for k, v in sharded.items() if not k.startswith("shards/")} == local


def test_a_killed_run_resumes_to_the_same_result(world, tmp_path):
    data, script, local = world
    out = tmp_path / "pool"
    cmd = [sys.executable, "-m", "harness.cli", "bench", "--engine", "fake", "--model", script, "--preset", "smoke",
           "--data-dir", str(data), "--methods", ",".join(METHODS), "--tasks", ",".join(TASKS), "--out", str(out),
           "--executor", "pool", "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("runs/*/tests/*/DONE")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)            # the driver and its workers, mid-run
    proc.wait()
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    assert _files(out) == local


def test_no_stage_runs_in_two_processes_at_once(tmp_path, data, script):
    cfg = RunConfig(model=script, preset=PRESETS["smoke"], data_dir=str(data), engine="fake")
    run_dir = tmp_path / "runs" / "x"
    run_dir.mkdir(parents=True)
    job = Job(cfg, tuple(METHODS), ("triviaqa",), (None,), str(run_dir), script, None, "tests/triviaqa")
    with stage_lock(run_dir, "tests/triviaqa"):
        with pytest.raises(BusyError, match="tests/triviaqa .* already running"):
            run_job(job)
    run_job(job)
    assert (run_dir / "tests/triviaqa" / layout.DONE).exists()


def test_a_stage_reads_only_the_stages_it_declares(tmp_path):
    def reads(ctx):
        ctx.input("a")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / layout.DONE).write_text('{"version": 1, "files": {}}')
    cfg = RunConfig(model="m", preset=PRESETS["tiny"], engine="fake")
    ctx = lambda name: StageContext(cfg, tmp_path, name, "m", EnginePool("fake"))   # noqa: E731
    with pytest.raises(RuntimeError, match="reads a, which is not among its declared inputs"):
        run_stages([Stage("b", reads)], ctx)
    run_stages([Stage("c", reads, inputs=("a",))], ctx)


def test_shards_are_read_beside_the_main_file_and_merged_into_it(tmp_path):
    from harness.engines.gencache import GenCache, merge
    main, shards = tmp_path / "generations.sqlite", tmp_path / "shards"
    old = GenCache(main, "hf", "m", None, "bf16")
    old.put([("p1", ["a1"])], {"t": 0}, 0)
    old.close()
    worker = GenCache(main, "hf", "m", None, "bf16", shards / "w1.sqlite")
    assert worker.get("p1", {"t": 0}, 0, 1) == ["a1"]                     # the main file, read-only
    worker.put([("p2", ["a2"])], {"t": 0}, 0)
    worker.close()
    assert GenCache(main, "hf", "m", None, "bf16").get("p2", {"t": 0}, 0, 1) is None   # not yet merged
    assert merge(main, shards) == 1 and not list(shards.glob("*"))
    assert GenCache(main, "hf", "m", None, "bf16").get("p2", {"t": 0}, 0, 1) == ["a2"]
