"""Paper fidelity: the CRaFT code's choices as config fields (SPEC section 3), trained models handed
to the stages that query them, memory hygiene around training, and `bench --dry-run`."""
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from harness.knowledge import construct, query as knowledge

from harness.stages import evaluation as stages_evaluation

from harness.stages import knowledge as stages_knowledge
from harness.run.config import RunConfig, SFTConfig
from harness.run.presets import PRESETS
from harness.engines import fake
from harness.methods import METHODS
from test_construct import select as _select
from harness.tasks import module

answers = module("triviaqa").answers
from harness.run.io import read_json, read_jsonl, write_json, write_jsonl
from harness.scoring.metrics import summarize
from harness.scoring.classify import classify_choice, classify_open, is_refusal
from harness.run.stage import EnginePool, StageContext

# ---------------------------------------------------------------- scorers


def test_code_refusal_detector_is_one_lower_cased_substring_plus_the_other_methods_targets():
    assert is_refusal("Sorry, I DON'T KNOW that.", "code")
    assert not is_refusal("I don’t know", "code")              # curly apostrophe: not the code's keyword
    assert not is_refusal("I'm not sure, York", "code") and is_refusal("I'm not sure, York", "broad")
    # the other methods' refusal targets (SPEC section 4): R-Tuning's short ones only as the whole answer
    assert is_refusal("I'm not sure.", "code") and is_refusal("It is not known", "code")
    assert not is_refusal("It is not known who built it, but Paris", "code")
    with pytest.raises(ValueError, match="unknown refusal detector 'x'"):
        is_refusal("a", "x")


def test_code_correctness_counts_raw_substrings_strict_counts_words():
    assert classify_open("Yorkshire", ["York"], "substring", "code") == "correct"
    assert classify_open("Yorkshire", ["York"], "strict", "code") == "wrong"
    assert classify_open("the answer is Paris.", ["paris"], "substring", "code") == "correct"
    assert classify_open("anything", ["", "Oslo"], "substring", "code") == "wrong"    # empty alias skipped
    with pytest.raises(ValueError, match="unknown correctness mode"):
        classify_open("a", ["a"], "fuzzy")


def test_unparsed_mcqa_answer_is_outside_ths_under_the_code():
    assert classify_choice("no idea at all", "B", refusal="code", unparsed="excluded") == ("unparsed", True)
    assert classify_choice("no idea at all", "B", refusal="code", unparsed="wrong") == ("wrong", True)
    s = summarize(["correct", "unparsed", "wrong", "correct"], ["correct", "wrong", "wrong", "wrong"])
    assert (s["pc"], s["pw"], s["pr"], s["pu"]) == (0.5, 0.25, 0.0, 0.25)
    assert s["ths"] == pytest.approx((0.5 * 0.75 - 0.25 * 0.25) / 0.75)


def test_macro_average_weighs_each_subject_the_same():
    """Subject a: 3 questions, method 3/3 correct, reference 1/3; subject b: 1 question, both wrong.
    Pooled Pc = 3/4; macro Pc = (1 + 0) / 2; THS from the macro rates of method and reference."""
    method = ["correct"] * 3 + ["wrong"]
    base = ["correct", "wrong", "wrong", "wrong"]
    groups = ["a", "a", "a", "b"]
    pooled, macro = summarize(method, base), summarize(method, base, groups)
    assert pooled["pc"] == 0.75 and macro["pc"] == 0.5 and macro["pw"] == 0.5
    pc0, pw0 = (1 / 3 + 0) / 2, (2 / 3 + 1) / 2
    assert macro["ths"] == pytest.approx((0.5 * pw0 - 0.5 * pc0) / pw0)
    assert macro["over_refusal"] == pooled["over_refusal"]       # pairwise rates stay pooled


def test_triviaqa_answers_are_the_codes_list():
    ans = {"value": "York", "normalized_value": "york", "aliases": ["York", "City of York"],
           "normalized_aliases": ["york", "city of york"]}
    assert answers(ans) == ["York", "york", "City of York", "city of york"]
    assert answers({"value": None, "aliases": ["Scorpio"], "normalized_aliases": ["scorpio"],
                             "normalized_value": None}) == ["Scorpio", "scorpio"]


# ---------------------------------------------------------------- pool and draws


def test_pool_is_the_whole_split_unless_a_size_is_set():
    items = list(range(10))
    assert stages_knowledge.pool_rows(items, None, 0) == items
    assert stages_knowledge.pool_rows(items, 50, 0) == items                  # larger than the split: all of it
    sample = stages_knowledge.pool_rows(items, 4, 0)
    assert len(sample) == 4 and sample == sorted(sample) and sample == stages_knowledge.pool_rows(items, 4, 0)


def _table(n_van: int, n_idk: int) -> list[dict]:
    return ([{"id": f"v{i}", "correctness": 1.0, "certainty": float(i), "correctness_rehearsal": 1.0}
             for i in range(n_van)] +
            [{"id": f"i{i}", "correctness": 0.0, "certainty": float(i), "correctness_rehearsal": 0.0}
             for i in range(n_idk)])


def test_draw_with_replacement_fills_the_count_from_what_there_is():
    sel = _select("rait", _table(3, 2), 6, 4, construct.from_tau(0.5), seed=1, replace=True)
    man = sel.to_manifest()
    assert (man["n_vanilla"], man["n_idk"], man["shortfall"]) == (6, 4, {"vanilla": 0, "idk": 0})
    assert man["n_vanilla_unique"] <= 3 and man["n_idk_unique"] <= 2
    # ranked pick: long enough -> the top n, untouched; short -> n draws with replacement from it
    ranked = _select("craft", _table(5, 1), 2, 3, construct.from_tau(0.5), replace=True,
                              keep_zero_flow=True)
    assert [r["id"] for r in ranked.rows if r["label"] == "vanilla"] == ["v4", "v3"]
    assert [r["id"] for r in ranked.rows if r["label"] == "idk"] == ["i0"] * 3
    empty = _select("rait", _table(2, 0), 1, 3, construct.from_tau(0.5), replace=True)
    assert empty.shortfall == {"vanilla": 0, "idk": 3}              # nothing to draw from stays short


def test_without_replacement_a_short_pool_is_a_shortfall_not_an_error():
    sel = _select("rait", _table(3, 1), 8, 2, construct.from_tau(0.5), seed=0)
    assert sel.shortfall == {"vanilla": 5, "idk": 1}
    replace(PRESETS["smoke"].open, pool_size=10, n_van=40, n_idk=10)   # no longer a config error


# ---------------------------------------------------------------- trained models reach the stages


class FakeEncoder:
    def encode(self, texts, **_):
        return np.ones((len(texts), 2))


def _done(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "DONE").write_text("{}")


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    monkeypatch.setattr(knowledge, "load_encoder", lambda: FakeEncoder())
    fake.LOADED.clear()
    items = [{"id": f"q{i}", "question": f"Capital {i}?", "aliases": ["Paris"], "answer": "Paris"}
             for i in range(3)]
    write_jsonl(tmp_path / "open" / "pool" / "items.jsonl", items)
    _done(tmp_path / "open" / "pool")
    cfg = RunConfig(model="base", preset=PRESETS["tiny"])
    return lambda name: StageContext(cfg, tmp_path, name, "/models/base", EnginePool("fake"))


def _trained(run_dir: Path, stage: str, mode: str) -> str:
    write_json(run_dir / stage / "train.json", {"mode": mode})
    (run_dir / stage / "model").mkdir(parents=True)
    _done(run_dir / stage)
    return str(run_dir / stage / "model")


@pytest.mark.parametrize("mode", ["full", "lora", "none"])
def test_rehearsed_query_loads_what_the_rehearsal_wrote(ctx, mode):
    c = ctx("open/query_rehearsed")
    path = _trained(c.run_dir, "open/rehearse", mode)
    c.dir.mkdir(parents=True)
    stages_knowledge.query_stage("open", rehearsed=True).run(c)
    spec = fake.LOADED[-1]
    expected = {"full": (path, None), "lora": ("/models/base", path), "none": ("/models/base", None)}[mode]
    assert (spec.model, spec.adapter) == expected
    assert (c.dir / "knowledge.jsonl").exists()


@pytest.mark.parametrize("mode", ["full", "lora", "none"])
def test_evaluation_loads_what_the_method_training_wrote(ctx, mode, monkeypatch):
    c = ctx("eval/craft/triviaqa")
    path = _trained(c.run_dir, "open/craft/train", mode)
    write_jsonl(c.run_dir / "tests" / "triviaqa" / "items.jsonl", [])
    _done(c.run_dir / "tests" / "triviaqa")
    monkeypatch.setattr("harness.scoring.evaluate.evaluate", lambda engine, *a, **k: [{"engine": engine.spec.model}])
    c.dir.mkdir(parents=True)
    stages_evaluation.eval_stage("craft", "refuse", "triviaqa", "open/craft/train").run(c)
    spec = fake.LOADED[-1]
    expected = {"full": (path, None), "lora": ("/models/base", path), "none": ("/models/base", None)}[mode]
    assert (spec.model, spec.adapter) == expected


def test_no_engine_is_alive_while_a_model_trains(ctx, monkeypatch):
    c = ctx("open/rehearse")
    write_jsonl(c.run_dir / "open" / "query_m0" / "knowledge.jsonl",
                [{"id": f"q{i}", "correctness": 1.0, "certainty": 1.0} for i in range(3)])
    _done(c.run_dir / "open" / "query_m0")
    c.engine()                                        # the query engine of the previous stage
    assert c.engines.alive
    seen = []

    def train(base, rows, sft, out_dir, **_):
        seen.append(c.engines.alive)
        write_json(Path(out_dir) / "train.json", {"mode": sft.mode})
    monkeypatch.setattr("harness.training.sft.train", train)
    c.dir.mkdir(parents=True)
    stages_knowledge.rehearse_stage("open").run(c)
    assert seen == [False]


# ---------------------------------------------------------------- training options


def test_packing_concatenates_examples_into_max_length_sequences():
    from harness.training.sft import IGNORE, pack
    examples = [{"input_ids": [i] * 3, "labels": [IGNORE, i, i]} for i in range(5)]
    packed = pack(examples, 4, seed=0)
    assert [len(p["input_ids"]) for p in packed] == [4, 4, 4, 3]
    assert sorted(t for p in packed for t in p["input_ids"]) == sorted(t for e in examples for t in e["input_ids"])
    assert sum(t == IGNORE for p in packed for t in p["labels"]) == 5
    assert pack(examples, 4, seed=0) == packed


def test_all_linear_lora_and_qlora_without_cuda():
    from harness.training.sft import check_quantization, target_modules
    assert target_modules(SFTConfig(target_modules=("all-linear",))) == "all-linear"
    assert target_modules(SFTConfig()) == ["q_proj", "v_proj"]
    import torch
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="needs a CUDA GPU and bitsandbytes"):
            check_quantization(SFTConfig(load_in_4bit=True))
    check_quantization(SFTConfig())


def test_yaml_preset_can_override_every_new_field(tmp_path):
    from harness.run.presets import load_preset
    path = tmp_path / "p.yaml"
    path.write_text("base: paper\nscoring: {refusal: broad, unparsed: wrong}\n"
                    "choice: {sft: {load_in_4bit: false, target_modules: [q_proj]}, draw_with_replacement: false}\n"
                    "open: {pool_size: 100, query_answer: first_line}\n")
    p = load_preset(str(path))
    assert (p.scoring.refusal, p.scoring.unparsed, p.scoring.correctness) == ("broad", "wrong", "substring")
    assert (p.choice.sft.load_in_4bit, p.choice.sft.target_modules, p.choice.draw_with_replacement) == (
        False, ("q_proj",), False)
    assert (p.open.pool_size, p.open.query_answer, p.open.sft.mode) == (100, "first_line", "full")


# ---------------------------------------------------------------- dry run


def test_dry_run_plans_without_loading_a_model(data_dir, tmp_path, capsys):
    from harness.cli import main
    assert main(["bench", "--preset", "paper", "--methods", "craft,rait", "--tasks", "triviaqa,mmlu",
                 "--model", "meta-llama/Meta-Llama-3-8B-Instruct", "--data-dir", str(data_dir),
                 "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "[run ] open/query_rehearsed" in text and text.count("open/pool") == 1
    assert "open: pool 19131 of 19131 triviaqa/train questions" in text
    assert "19131 x 10 samples at T=1.0, up to 50 tokens" in text
    assert "14042 forward passes, 5-shot, no chat template" in text
    assert "rehearsal SFT (full, lr 2e-06): 1000 rows" in text
    assert "craft SFT (lora, 4-bit, lr 0.0002): 5000 rows" in text
    assert "triviaqa: 11313 of 11313 (triviaqa/unfiltered_validation)" in text
    assert "mmlu: 1531 of 1531 (mmlu/validation)" in text
    assert not (tmp_path / "out").exists()                 # nothing written
    import torch
    if not torch.cuda.is_available():
        assert "warning: the run would stop before its first stage" in text and "CUDA" in text


def test_qlora_without_cuda_stops_the_bench_before_its_first_stage(data_dir, tmp_path, capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: QLoRA can run")
    from harness.cli import main
    assert main(["bench", "--preset", "paper", "--methods", "craft", "--tasks", "mmlu", "--model", "smollm2-135m",
                 "--data-dir", str(data_dir), "--out", str(tmp_path / "out")]) == 2
    assert "load_in_4bit (QLoRA" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_build_is_pure_and_crss_is_its_own_stage(ctx):
    """The build stage reads tables and loads no model; CRSS loads M0 in a stage of its own."""
    c = ctx("open/craft/build")
    write_jsonl(c.run_dir / "open" / "query_m0" / "knowledge.jsonl",
                [{"id": f"q{i}", "correctness": 1.0 if i == 0 else 0.2, "certainty": 1.0} for i in range(3)])
    write_jsonl(c.run_dir / "open" / "query_rehearsed" / "knowledge.jsonl",
                [{"id": f"q{i}", "correctness": 0.0, "certainty": 1.0} for i in range(3)])
    for stage in ("open/query_m0", "open/query_rehearsed"):
        _done(c.run_dir / stage)
    craft = METHODS["craft"]
    build, crss = [s for s in craft.stages("open") if s.name in ("open/craft/build", "open/craft/crss")]
    c.dir.mkdir(parents=True)
    build.run(c)
    assert fake.LOADED == [] and not c.engines.alive
    rows = read_jsonl(c.dir / "sft_data.jsonl")
    assert [(r["id"], r["label"]) for r in rows] == [("q0", "vanilla"), ("q1", "idk"), ("q2", "idk")]
    _done(c.dir)
    k = ctx("open/craft/crss")
    k.dir.mkdir(parents=True)
    crss.run(k)
    assert len(fake.LOADED) == 1 and read_json(k.dir / "crss.json")["n_idk"] == 2
