"""The whole bench path (tests stage, lm-eval tasks, records, leaderboard) with a scripted engine."""
import json

import pytest

from harness import bench as bench_mod
from dataclasses import replace

from harness.config import PRESETS, RunConfig, Scoring
from harness.io import read_jsonl, write_jsonl
from harness.metrics import ths
from harness.prompts import REFUSE_PREFIX


class ScriptedEngine:
    """Knows the gold answer of every question containing 'Paris'; refuses when allowed to."""
    def apply_template(self, user):
        return f"<user>{user}</user>"

    def generate(self, prompts, n=1, temperature=0.0, max_new_tokens=32, seed=0, desc=""):
        outs = []
        for p in prompts:
            if "Paris" in p or "France" in p:
                outs.append(["Paris\n\nignored" if "Question:" not in p else "B"])
            elif REFUSE_PREFIX in p:
                outs.append(["I don’t know."])
            else:
                outs.append(["Lyon" if "Question:" not in p else "nothing"])
        return outs


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


def test_bench_untuned_methods_end_to_end(tmp_path, data, monkeypatch):
    monkeypatch.setattr(bench_mod, "resolve", lambda name: "scripted")
    monkeypatch.setattr("harness.run.EnginePool.get", lambda self, spec: ScriptedEngine())
    cfg = RunConfig(model="scripted", preset=SMOKE_HARNESS, data_dir=str(data))
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
    out = tmp_path / "out"
    assert json.loads((out / "leaderboard.json").read_text()) == rows
    assert (out / "leaderboard.csv").read_text().startswith("model,method,task,n,pc,pw,pr,ths")
    assert "| scripted | init-refuse | triviaqa | 4 | 50.0 | 0.0 | 50.0 | 50.0 |" in (out / "leaderboard.md").read_text()
    run_dir = next((out / "runs").iterdir())
    recs = read_jsonl(run_dir / "eval" / "init-refuse" / "triviaqa" / "records.jsonl")
    assert {"id", "question", "prompt", "answer", "gold", "class"} <= set(recs[0])
    assert recs[1]["prompt"] == f"<user>{REFUSE_PREFIX}Largest city on Mars?</user>"
    assert recs[1]["answer"] == "I don’t know." and recs[1]["class"] == "refused"
    assert read_jsonl(run_dir / "eval" / "init-basic" / "triviaqa" / "records.jsonl")[0]["answer"] == "Paris"
    assert json.loads((run_dir / "config.json").read_text())["config"]["model"] == "scripted"


def test_code_scoring_counts_only_the_codes_refusal_and_leaves_unparsed_outside(tmp_path, data, monkeypatch):
    """The CRaFT code's scorers (smoke's default): "I don’t know." with a curly apostrophe is not its
    refusal keyword, so it is wrong; an MCQA answer without a letter is `unparsed`, neither correct
    nor wrong; the MCQA prompt is the code's "There is a single choice question ..."."""
    monkeypatch.setattr(bench_mod, "resolve", lambda name: "scripted")
    monkeypatch.setattr("harness.run.EnginePool.get", lambda self, spec: ScriptedEngine())
    cfg = RunConfig(model="scripted", preset=PRESETS["smoke"], data_dir=str(data))
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


def test_rerun_skips_finished_stages(tmp_path, data, monkeypatch):
    calls = []
    monkeypatch.setattr(bench_mod, "resolve", lambda name: "scripted")
    monkeypatch.setattr("harness.run.EnginePool.get", lambda self, spec: calls.append(spec) or ScriptedEngine())
    cfg = RunConfig(model="scripted", preset=SMOKE_HARNESS, data_dir=str(data))
    first = bench_mod.bench(cfg, ["init-basic"], ["triviaqa"], tmp_path / "out")
    n = len(calls)
    assert bench_mod.bench(cfg, ["init-basic"], ["triviaqa"], tmp_path / "out") == first
    assert len(calls) == n                       # nothing evaluated again
