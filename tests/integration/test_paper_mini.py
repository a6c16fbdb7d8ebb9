"""The `paper` preset in miniature (presets/paper-mini.yaml) on the real tiny model and real data: the
released code's protocol end to end, with full fine-tuning of the OEQA rehearsal and RAIT models, the
rehearsed query on the full model, 5-shot MCQA without a chat template, T=1.0 with 10 samples,
packing, the code's prompts and scorers. A few minutes on 2 CPU cores."""
import json
from pathlib import Path

import pytest

from harness.bench import bench
from harness.run.config import RunConfig
from harness.run.io import read_json, read_jsonl
from harness.run.presets import preset

pytestmark = [pytest.mark.integration, pytest.mark.slow]      # trains: make test-slow (CI)
PRESET = Path(__file__).resolve().parents[2] / "presets" / "paper-mini.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("paper-mini")
    cfg = RunConfig(model="smollm2-135m", preset=preset(str(PRESET)), data_dir=str(data_dir), batch_size=16)
    rows = bench(cfg, ["craft"], ["triviaqa", "mmlu"], out)
    return out / "runs" / rows[0]["run"], rows, cfg


def test_everything_but_sizes_is_the_paper_preset(run):
    _, _, cfg = run
    p, paper = cfg.preset, preset("paper")
    assert p.open.sft == paper.open.sft and p.open.rehearsal_sft == paper.open.rehearsal_sft
    assert (p.open.n_samples, p.open.temperature, p.open.query_max_new_tokens) == (10, 1.0, 50)
    assert (p.choice.n_shot, p.choice.query_chat_template, p.choice.draw_with_replacement) == (5, False, True)
    assert p.scoring.refusal == "code" and p.scoring.correctness == "substring"


def test_full_fine_tuned_models_are_queried_and_evaluated_as_full_models(run):
    run_dir, rows, _ = run
    rehearse = read_json(run_dir / "open" / "rehearse" / "train.json")
    assert rehearse["mode"] == "full" and rehearse["global_batch"] == 64
    assert rehearse["sequences"] == 1 < rehearse["examples"]          # packed into one 2,048-token sequence
    assert (run_dir / "open" / "rehearse" / "model" / "config.json").exists()
    assert not (run_dir / "open" / "rehearse" / "model" / "adapter_config.json").exists()
    rehearsed = read_jsonl(run_dir / "open" / "query_rehearsed" / "knowledge.jsonl")
    assert len(rehearsed) == 12 and all(len(r["samples"]) == 10 for r in rehearsed)
    train = read_json(run_dir / "open" / "craft" / "train" / "train.json")
    assert train["mode"] in ("full", "none")
    records = read_jsonl(run_dir / "eval" / "craft" / "triviaqa" / "records.jsonl")
    assert len(records) == 4 and all(r["class"] in ("correct", "wrong", "refused") for r in records)
    assert {(r["method"], r["task"]) for r in rows} == {(m, t) for m in ("init-basic", "craft")
                                                        for t in ("triviaqa", "mmlu")}


def test_mcqa_follows_the_code(run):
    run_dir, _, _ = run
    adapter = run_dir / "choice" / "rehearse" / "model" / "adapter_config.json"
    targets = set(json.loads(adapter.read_text())["target_modules"])
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} <= targets
    knowledge = read_jsonl(run_dir / "choice" / "query_m0" / "knowledge.jsonl")
    assert all(sum(r["probs"]) == pytest.approx(1.0) for r in knowledge)
    assert all(sum(r["raw_probs"]) < 1.0 + 1e-6 for r in knowledge)
    records = read_jsonl(run_dir / "eval" / "init-basic" / "mmlu" / "records.jsonl")
    assert all("There is a single choice question about" in r["prompt"] for r in records)
    assert {r["class"] for r in records} <= {"correct", "wrong", "refused", "unparsed"}
    assert all(r["class"] == "unparsed" for r in records if r["unparsed"])
    man = read_json(run_dir / "choice" / "craft" / "build" / "manifest.json")
    assert man["n_idk"] in (0, 2) and man["shortfall"]["idk"] == 2 - man["n_idk"]  # drawn with replacement


def test_tests_are_the_papers_splits_and_stages_record_memory(run, data_dir):
    import random
    run_dir, _, _ = run
    unfiltered = read_jsonl(data_dir / "triviaqa" / "unfiltered_validation.jsonl")
    keep = sorted(random.Random(0).sample(range(len(unfiltered)), 4))
    rows = read_jsonl(run_dir / "tests" / "triviaqa" / "rows.jsonl")
    assert rows == [unfiltered[i] for i in keep]
    timings = read_json(run_dir / "timings.json")
    assert "open/rehearse" in timings and all(v["peak_rss_mb"] > 0 for v in timings.values())
