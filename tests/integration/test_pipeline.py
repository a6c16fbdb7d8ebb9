"""Every method's real pipeline on the real tiny model and real data, at a handful of questions."""
import pytest
from harness.methods import METHODS, unsupported

from harness.bench import bench
from harness.run.config import RunConfig
from harness.run.io import read_json, read_jsonl
from harness.run.presets import PRESETS

pytestmark = [pytest.mark.integration, pytest.mark.slow]      # trains: make test-slow (CI)


def tiny_preset():
    return PRESETS["tiny"]


@pytest.fixture
def run(tiny_run):
    return tiny_run


KIND = {"triviaqa": "open", "mmlu": "choice"}


def test_every_method_lands_on_the_leaderboard(run):
    _, _, rows = run
    assert {(r["method"], r["task"]) for r in rows} == {(m, t) for m in METHODS for t in ("triviaqa", "mmlu")
                                                        if not unsupported(m, KIND[t])}
    assert len({r["method"] for r in rows}) == 15 and not any(r["method"] == "idk-sft" and r["task"] == "mmlu" for r in rows)
    for r in rows:
        assert r["n"] == 4
        # the code's scoring: an MCQA answer without a letter is `unparsed`, neither correct nor wrong
        assert r["pc"] + r["pw"] + r["pr"] + r["unparsed"] / r["n"] == pytest.approx(1.0)
        if r["method"] == "init-basic":
            assert r["ths"] in (0.0, None)


def test_knowledge_tables_have_correctness_and_certainty(run):
    _, run_dir, _ = run
    open_rows = read_jsonl(run_dir / "open" / "query_m0" / "knowledge.jsonl")
    assert len(open_rows) == 12 and all(len(r["samples"]) == 2 for r in open_rows)
    assert all(0 <= r["correctness"] <= 1 and -1.0001 <= r["certainty"] <= 1.0001 for r in open_rows)
    choice_rows = read_jsonl(run_dir / "choice" / "query_m0" / "knowledge.jsonl")
    assert all(sum(r["probs"]) == pytest.approx(1.0) for r in choice_rows)
    assert all(r["certainty"] <= 1e-9 for r in choice_rows)


def test_shared_stages_ran_once_and_flow_was_measured(run):
    _, run_dir, _ = run
    for kind in ("open", "choice"):
        assert (run_dir / kind / "query_m0" / "DONE").exists()
        assert (run_dir / kind / "rehearse" / "model").is_dir()
        rehearsed = read_jsonl(run_dir / kind / "query_rehearsed" / "knowledge.jsonl")
        assert len(rehearsed) == 12
    build_dirs = [p.parent for p in run_dir.glob("*/*/build")]
    assert len(build_dirs) == 8 * 2 + 5           # 8 trained methods on both domains, 5 on OEQA only


def test_constructed_data_follows_the_manifest(run):
    _, run_dir, _ = run
    for kind in ("open", "choice"):
        for m in ("rait", "corcer-rait", "craft-wo-cer", "craft"):
            build = run_dir / kind / m / "build"
            man = read_json(build / "manifest.json")
            data = read_jsonl(build / "sft_data.jsonl")
            assert sum(r["label"] == "idk" for r in data) == man["n_idk"] == 2 - man["shortfall"]["idk"]
            idk = "I don't know." if kind == "choice" else "I don't know"     # the code's targets
            assert all(r["target"] == idk for r in data if r["label"] == "idk")
            assert "crss" in read_json(run_dir / kind / m / "crss" / "crss.json")     # its own stage
            assert not (build / "crss.json").exists()
            assert read_json(run_dir / kind / m / "train" / "train.json")["examples"] == len(data)


def test_the_other_methods_build_their_own_targets_and_train(run):
    """Each added method's constructed rows carry its own targets (docs/methods.md); idk-dpo's
    preference stage trains a full model from its SFT; grait's rows carry loss weights."""
    from harness.data.prompts import HONESTY_REFUSAL, IDK_SENTENCE, RTUNING_QUESTION, RTUNING_REFUSALS
    _, run_dir, _ = run
    idk_targets = {"r-tuning": set(RTUNING_REFUSALS), "idk-sft": {IDK_SENTENCE}, "idk-dpo": {IDK_SENTENCE},
                   "honesty-absolute": {HONESTY_REFUSAL}, "honesty-conf-verb": {HONESTY_REFUSAL},
                   "honesty-multisample": {HONESTY_REFUSAL}}
    for m, targets in idk_targets.items():
        data = read_jsonl(run_dir / "open" / m / "build" / "sft_data.jsonl")
        assert all(r["target"] in targets for r in data if r["label"] == "idk"), m
        assert read_json(run_dir / "open" / m / "build" / "manifest.json")["n_idk"] == \
            sum(r["label"] == "idk" for r in data)
    for kind in ("open", "choice"):
        data = read_jsonl(run_dir / kind / "r-tuning-unsure" / "build" / "sft_data.jsonl")
        assert data and all(RTUNING_QUESTION in r["target"] for r in data)
        grait = read_jsonl(run_dir / kind / "grait" / "build" / "sft_data.jsonl")
        assert all(isinstance(r["weight"], float) for r in grait)
        features = read_json(run_dir / kind / "gradients" / "manifest.json")
        # D_van's gold-target rows, and the refusal-target rows of every vanilla and idk candidate
        assert features["dim"] == 8192 and features["rows"] == (features["n_van"] + features["n_van_candidates"]
                                                                + features["n_idk_candidates"])
    pairs = read_jsonl(run_dir / "open" / "idk-dpo" / "build" / "sft_data.jsonl")
    assert pairs and all(r["rejected"] != r["target"] for r in pairs)
    dpo = read_json(run_dir / "open" / "idk-dpo" / "train" / "train.json")
    assert dpo["objective"] == "dpo" and dpo["mode"] == "full" and dpo["pairs"] == len(pairs)
    assert dpo["start"] == {"adapter": str(run_dir / "open" / "idk-dpo" / "sft" / "model")}
    # its SFT has idk-sft's rows: trained once, the second restored from the trained-model store
    assert [(r["prompt"], r["target"]) for r in read_jsonl(run_dir / "open" / "idk-sft" / "build" / "sft_data.jsonl")] \
        == [(r["prompt"], r["target"]) for r in pairs]
    assert read_json(run_dir / "open" / "idk-dpo" / "sft" / "train.json").get("reused")
    # R-Tuning's AP: every test answer of r-tuning-unsure with its confidence
    for task in ("triviaqa", "mmlu"):
        conf = read_jsonl(run_dir / "confidence" / "r-tuning-unsure" / task / "confidence.jsonl")
        assert len(conf) == 4 and all(0 <= r["confidence"] <= 1 and 0 <= r["p_sure"] <= 1 for r in conf)
        ap = read_json(run_dir / "confidence" / "r-tuning-unsure" / task / "ap.json")
        assert ap["n"] == 4 and (ap["ap"] is None) == (ap["right"] == 0)


def test_rerun_reuses_everything(run, data_dir):
    out, run_dir, rows = run
    cfg = RunConfig(model="smollm2-135m", preset=tiny_preset(), data_dir=str(data_dir), batch_size=8)
    before = read_json(run_dir / "timings.json")
    assert bench(cfg, ["all"], ["triviaqa", "mmlu"], out) == rows
    assert read_json(run_dir / "timings.json") == before      # no stage ran a second time


def test_another_test_sample_reuses_the_trained_models(run, data_dir):
    """--limit is not part of what SFT sees: a run with fewer test questions in the same --out
    restores every trained model from OUT/cache/sft instead of training again."""
    out, _, _ = run
    cfg = RunConfig(model="smollm2-135m", preset=tiny_preset(), data_dir=str(data_dir), batch_size=8, limit=3)
    rows = bench(cfg, ["craft"], ["triviaqa"], out, overwrite=True)
    assert all(r["n"] == 3 for r in rows)
    run_dir = out / "runs" / rows[0]["run"]
    for stage in ("open/rehearse", "open/craft/train"):
        report = read_json(run_dir / stage / "train.json")
        assert report["mode"] == "none" or report.get("reused"), stage
    assert read_json(run_dir / "open" / "rehearse" / "train.json").get("reused")


def test_plan_on_the_whole_pool_predicts_the_bench_candidate_sets(run, data_dir):
    """`harness plan` with a pilot as large as the tiny pool queries exactly what the bench queried,
    so its candidate counts are the build manifests'; and it measures an SFT step on the real model."""
    from harness.plan import plan
    _, run_dir, _ = run
    cfg = RunConfig(model="smollm2-135m", preset=tiny_preset(), data_dir=str(data_dir), batch_size=8)
    result = plan(cfg, ["craft", "rait"], ["triviaqa", "mmlu"], sample=12)
    for kind in ("open", "choice"):
        r = result["domains"][kind]
        man = read_json(run_dir / kind / "rait" / "build" / "manifest.json")
        assert (r["candidates"]["vanilla"]["pilot"], r["candidates"]["idk"]["pilot"]) == (
            man["n_van_candidates"], man["n_idk_candidates"])
        assert r["methods"]["rait"]["shortfall"] == {"vanilla": man["shortfall"]["vanilla"], "idk": man["shortfall"]["idk"]}
        assert r["seconds"]["sft_step"] > 0 and r["eval_rate"] > 0
    assert result["total_seconds"] > 0


def test_training_seeds_train_the_same_set_again_and_nothing_else(run, data_dir):
    """--seeds 0,1 in the same run directory: only the seed-1 training and its evaluation run; the
    seed-1 model trained on the same rows differs from the seed-0 model; rows carry the seed."""
    import hashlib
    out, run_dir, _ = run
    cfg = RunConfig(model="smollm2-135m", preset=tiny_preset(), data_dir=str(data_dir), batch_size=8,
                    train_seeds=(0, 1))
    before = read_json(run_dir / "timings.json")
    rows = bench(cfg, ["rait", "craft"], ["triviaqa"], out, overwrite=True)
    assert [(r["method"], r["seed"]) for r in rows] == [("init-basic", None), ("rait", 0), ("rait@seed1", 1),
                                                       ("craft", 0), ("craft@seed1", 1)]
    after = read_json(run_dir / "timings.json")
    ran = {name for name, t in after.items() if before.get(name) != t}
    assert ran == {"open/rait/train@seed1", "open/craft/train@seed1", "eval/rait@seed1/triviaqa",
                   "eval/craft@seed1/triviaqa"}

    def weights(stage):
        return hashlib.sha256((run_dir / stage / "model" / "adapter_model.safetensors").read_bytes()).hexdigest()
    assert read_json(run_dir / "open" / "rait" / "train" / "train.json")["mode"] != "none"
    for m in ("rait", "craft"):              # craft's tiny set may be empty: then neither seed trains
        if read_json(run_dir / "open" / m / "train" / "train.json")["mode"] == "none":
            assert read_json(run_dir / "open" / m / "train@seed1" / "train.json")["mode"] == "none"
            continue
        assert read_jsonl(run_dir / "open" / m / "train@seed1" / "sft_data.jsonl") == \
            read_jsonl(run_dir / "open" / m / "train" / "sft_data.jsonl")
        assert weights(f"open/{m}/train@seed1") != weights(f"open/{m}/train")


def test_a_base_model_without_chat_template_is_warned_and_asked_in_completion_style(tmp_path, data_dir, capsys):
    """A stand-in base model: SmolLM2 with its chat template removed. bench warns, records the style,
    and every prompt (evaluation and training) is `Question: ...\\nAnswer:`."""
    import json
    import shutil

    from harness.engines.models import resolve
    model = tmp_path / "base-model"
    shutil.copytree(resolve("smollm2-135m"), model)
    (model / "chat_template.jinja").unlink(missing_ok=True)
    tc = json.loads((model / "tokenizer_config.json").read_text())
    tc.pop("chat_template", None)
    (model / "tokenizer_config.json").write_text(json.dumps(tc))
    cfg = RunConfig(model=str(model), preset=tiny_preset(), data_dir=str(data_dir), batch_size=8, limit=2,
                    model_name="base stand-in")
    rows = bench(cfg, ["init-basic"], ["triviaqa"], tmp_path / "out")
    assert "has no chat template" in " ".join(capsys.readouterr().err.split())
    assert {r["model"] for r in rows} == {"base stand-in"}
    run_dir = tmp_path / "out" / "runs" / rows[0]["run"]
    meta = read_json(run_dir / "config.json")
    assert meta["prompt_style"] == "completion" and meta["model_name"] == "base stand-in"
    records = read_jsonl(run_dir / "eval" / "init-basic" / "triviaqa" / "records.jsonl")
    assert all(r["prompt"].startswith("Question: ") and r["prompt"].endswith("\nAnswer:") for r in records)
