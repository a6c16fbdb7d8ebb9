"""The whole bench path (tests stage, lm-eval tasks, records, leaderboard) with the fake engine
(`--engine fake`, harness/engines/fake.py) and a script."""
import json
import os
import subprocess
import sys

from support.scripted import SMOKE_HARNESS, write_data, write_script

from harness import bench as bench_mod
from harness.bench import busy_warning
from harness.data.prompts import REFUSE_PREFIX
from harness.engines import fake
from harness.run.config import RunConfig
from harness.run.io import read_jsonl
from harness.run.presets import PRESETS
from harness.scoring.metrics import ths


def test_bench_untuned_methods_end_to_end(tmp_path, data, script):
    cfg = RunConfig(model=script, preset=SMOKE_HARNESS, data_dir=str(data), engine="fake")
    rows = bench_mod.bench(cfg, ["init-refuse"], ["triviaqa", "mmlu"], tmp_path / "out")
    by = {(r["method"], r["task"]): r for r in rows}
    assert set(by) == {("init-basic", "triviaqa"), ("init-refuse", "triviaqa"),
                       ("init-basic", "mmlu"), ("init-refuse", "mmlu")}
    # triviaqa: 4 questions; basic answers Paris to two (correct), Lyon to two (wrong)
    assert (by["init-basic", "triviaqa"]["pc"], by["init-basic", "triviaqa"]["pw"]) == (0.5, 0.5)
    # refuse prompt: the two unknown ones become refusals
    r = by["init-refuse", "triviaqa"]
    assert (r["pc"], r["pw"], r["pr"]) == (0.5, 0.0, 0.5)
    assert r["ths"] == ths(0.5, 0.0, 0.5, 0.5) == 0.5     # (0.5*0.5 - 0*0.5) / 0.5
    assert r["over_refusal"] == 0.0 and r["truthfulness"] == 1.0
    # mmlu: "nothing" has no letter -> wrong and unparsed
    assert by["init-basic", "mmlu"]["unparsed"] == 1 and by["init-basic", "mmlu"]["pw"] == 0.5
    mmlu = by["init-basic", "mmlu"]          # every answer accounted for: the unparsed share completes the row
    assert mmlu["pc"] + mmlu["pw"] + mmlu["pr"] + mmlu["pu"] == 1.0 and mmlu["pu"] == 0.0   # scored wrong here
    out = tmp_path / "out"
    assert json.loads((out / "leaderboard.json").read_text()) == rows
    assert (out / "leaderboard.csv").read_text().startswith("model,method,seed,task,n,pc,pw,pr,pu,ths")
    assert f"| {script} | init-refuse |  | triviaqa | 4 | 50.0 | 0.0 | 50.0 | 0.0 | 50.0 |" in (out / "leaderboard.md").read_text()
    run_dir = next((out / "runs").iterdir())
    recs = read_jsonl(run_dir / "eval" / "init-refuse" / "triviaqa" / "records.jsonl")
    assert {"id", "question", "prompt", "answer", "gold", "class"} <= set(recs[0])
    assert recs[1]["prompt"] == f"<user>{REFUSE_PREFIX}Largest city on Mars?</user>"
    assert recs[1]["answer"] == "I don’t know." and recs[1]["class"] == "refused"
    assert read_jsonl(run_dir / "eval" / "init-basic" / "triviaqa" / "records.jsonl")[0]["answer"] == "Paris"
    assert json.loads((run_dir / "config.json").read_text())["config"]["model"] == script


def test_code_scoring_counts_only_the_codes_refusal_and_leaves_unparsed_outside(tmp_path, data, script):
    """The CRaFT code's scorers (smoke's default): "I don’t know." with a curly apostrophe is not its
    refusal keyword, so it is wrong; an MCQA answer without a letter is `unparsed`, neither correct
    nor wrong; the MCQA prompt is the code's "There is a single choice question ..."."""
    cfg = RunConfig(model=script, preset=PRESETS["smoke"], data_dir=str(data), engine="fake")
    rows = bench_mod.bench(cfg, ["init-refuse"], ["triviaqa", "mmlu"], tmp_path / "out")
    by = {(r["method"], r["task"]): r for r in rows}
    r = by["init-refuse", "triviaqa"]
    assert (r["pc"], r["pw"], r["pr"]) == (0.5, 0.5, 0.0)
    basic = by["init-basic", "mmlu"]
    assert (basic["pc"], basic["pw"], basic["unparsed"]) == (0.5, 0.0, 1)     # Atlantis: no letter
    run_dir = next((tmp_path / "out" / "runs").iterdir())
    recs = read_jsonl(run_dir / "eval" / "init-basic" / "mmlu" / "records.jsonl")
    assert [x["class"] for x in recs] == ["correct", "unparsed"]
    assert recs[0]["prompt"].startswith("<user>There is a single choice question about geo. Answer the "
                                        "question by replying A, B, C or D.\nQuestion: Capital of France?")


def test_rerun_skips_finished_stages(tmp_path, data, script):
    cfg = RunConfig(model=script, preset=SMOKE_HARNESS, data_dir=str(data), engine="fake")
    first = bench_mod.bench(cfg, ["init-basic"], ["triviaqa"], tmp_path / "out")
    n = len(fake.LOADED)
    assert bench_mod.bench(cfg, ["init-basic"], ["triviaqa"], tmp_path / "out") == first
    assert len(fake.LOADED) == n                 # nothing evaluated again


def test_a_second_bench_on_the_same_out_keeps_the_table_and_the_timings(tmp_path, data, script):
    """Adding a task (or a method) to a finished run: OUT/leaderboard.json holds every (method, task)
    the run has, and timings.json keeps the stages the first invocation ran."""
    cfg = RunConfig(model=script, preset=SMOKE_HARNESS, data_dir=str(data), engine="fake")
    out = tmp_path / "out"
    bench_mod.bench(cfg, ["init-refuse"], ["triviaqa"], out)
    (run_dir,) = (out / "runs").iterdir()
    first = json.loads((run_dir / "timings.json").read_text())
    assert "eval/init-refuse/triviaqa" in first
    rows = bench_mod.bench(cfg, ["init-basic"], ["mmlu"], out)
    table = json.loads((out / "leaderboard.json").read_text())
    assert [(r["method"], r["task"]) for r in rows] == [("init-basic", "mmlu")]   # returned: this invocation's
    assert all(r in table for r in rows)
    assert {(r["method"], r["task"]) for r in table} == {("init-basic", "triviaqa"), ("init-refuse", "triviaqa"),
                                                           ("init-basic", "mmlu")}
    timings = json.loads((run_dir / "timings.json").read_text())
    assert all(timings[k] == v for k, v in first.items()) and "eval/init-basic/mmlu" in timings


def test_ctrl_c_says_what_was_kept_and_how_to_resume(tmp_path, data, script):
    """A real SIGINT (a failpoint sends it right after a stage's DONE) ends the run with exit code 130,
    one message and no traceback; the same command then resumes and finishes."""
    import os
    import subprocess
    import sys
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "harness.cli", "bench", "--engine", "fake", "--model", script, "--methods",
           "init-refuse", "--tasks", "triviaqa", "--preset", "tiny", "--data-dir", str(data), "--out", str(out)]
    env = {**os.environ, "HARNESS_FAILPOINT": "stage-done:tests/triviaqa", "HARNESS_FAILSIGNAL": "INT"}
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 130, first.stderr[-2000:]
    assert "interrupted" in first.stderr and "Run the same command to resume" in first.stderr
    assert "Traceback" not in first.stderr and "KeyboardInterrupt" not in first.stderr
    env.pop("HARNESS_FAILPOINT")
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (out / "leaderboard.json").exists()


def test_a_busy_machine_is_reported():
    cores = os.cpu_count() or 1
    assert busy_warning([cores] * 5) and "busy" in busy_warning([cores] * 5)
    assert busy_warning([0] * 5) is None


def test_two_benches_of_different_configs_in_one_out_never_lose_a_table(tmp_path):
    """Two real processes, different data seeds, the same --out: one writes the table, the other
    exits with an error that says where its results are, never a silent overwrite."""
    data, out = write_data(tmp_path / "data"), tmp_path / "out"
    script = write_script(tmp_path / "s.json")
    cmd = [sys.executable, "-m", "harness.cli", "bench", "--engine", "fake", "--model", script, "--methods",
           "init-refuse", "--tasks", "triviaqa", "--data-dir", str(data), "--out", str(out), "--limit", "3"]
    procs = [subprocess.Popen(cmd + ["--seed", str(s)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for s in (0, 1)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert sorted(rc for rc, _ in results) == [0, 2], results
    loser = next(err for rc, err in results if rc == 2)
    assert "a different config" in loser
    winner = procs[[rc for rc, _ in results].index(0)]
    table = json.loads((out / "leaderboard.json").read_text())
    runs = {r["run"] for r in table}
    assert len(runs) == 1 and (out / "runs" / runs.pop() / "config.json").exists()
    assert winner.returncode == 0
