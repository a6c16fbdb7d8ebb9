"""The whole bench path (tests stage, lm-eval tasks, records, leaderboard) with the fake engine
(`--engine fake`, harness/engines/fake.py) and a script."""
import json
import re
from dataclasses import replace

import pytest

from harness import bench as bench_mod
from harness.engines import fake

from harness.run.config import RunConfig, Scoring

from harness.run.presets import PRESETS
from harness.run.io import read_jsonl, write_jsonl
from harness.scoring.metrics import ths
from harness.data.prompts import REFUSE_PREFIX


# Knows the gold answer of every question containing 'Paris' or 'France'; refuses when allowed to.
SCRIPT = {"rules": [{"when": ["Paris|France", "Question:"], "answer": "B"},
                    {"when": ["Paris|France"], "answer": "Paris\n\nignored"},
                    {"when": [re.escape(REFUSE_PREFIX)], "answer": "I don’t know."},
                    {"when": ["Question:"], "answer": "nothing"}],
          "default": "Lyon"}


def write_script(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(SCRIPT))
    return str(path)


# The harness's own scorers (broad refusal list, strict word match, its MCQA prompt, pooled MMLU).
HARNESS_SCORING = Scoring(correctness="strict", refusal="broad", choice_prompt="harness", unparsed="wrong",
                          mmlu_average="micro", triviaqa_test="validation", nq_question_mark=False)
SMOKE_HARNESS = replace(PRESETS["smoke"], scoring=HARNESS_SCORING)


def write_data(root):
    tq = [{"question_id": f"t{i}", "question": q, "answer": {"value": "Paris", "aliases": ["Paris"]}}
          for i, q in enumerate(["Capital of France?", "Largest city on Mars?", "Smallest moon?", "Paris is in?"])]
    mm = [{"question": "Capital of France?", "subject": "geo", "choices": ["Rome", "Paris", "Oslo", "Bern"],
           "answer": 1},
          {"question": "Capital of Atlantis?", "subject": "geo", "choices": ["Rome", "Lima", "Oslo", "Bern"],
           "answer": 1}]
    write_jsonl(root / "triviaqa" / "validation.jsonl", tq)
    write_jsonl(root / "triviaqa" / "unfiltered_validation.jsonl", tq)
    write_jsonl(root / "mmlu" / "validation.jsonl", mm)
    return root


@pytest.fixture
def data(tmp_path):
    return write_data(tmp_path / "data")


@pytest.fixture
def script(tmp_path):
    return write_script(tmp_path / "scripted.json")


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
