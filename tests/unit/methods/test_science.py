"""Scientific properties a planted bug would break, each pinned by a fast test: the SFT loss covers
the answer only; the RAIT methods' idk rows are the refusal, never the gold answer; CRaFT's final SFT
starts from M0, not from the rehearsed model; the generation cache keys samples by temperature."""
from pathlib import Path

import pytest
from harness.methods import METHODS

from harness.data.prompts import IDK
from harness.engines import fake
from harness.engines.cache import CachingEngine
from harness.engines.protocol import EngineSpec
from harness.run.config import RunConfig
from harness.run.io import read_jsonl, write_json, write_jsonl
from harness.run.presets import PRESETS
from harness.run.stage import EnginePool, StageContext
from harness.training.sft import IGNORE, build_examples


class CharTokenizer:
    """One token per character; no chat template (the completion prompt); eos 0."""
    chat_template = None
    eos_token_id = 0

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(ch) for ch in text]}


def test_the_sft_labels_are_the_answer_and_its_end_token_never_the_prompt():
    rows = [{"prompt": "Who wrote Hamlet?", "target": "Shakespeare"}, {"prompt": "2+2?", "target": "4"}]
    for row, ex in zip(rows, build_examples(CharTokenizer(), rows, max_length=64)):
        answer = [ord(ch) for ch in " " + row["target"]] + [0]          # completion style: " " + target
        n_prompt = len(ex["input_ids"]) - len(answer)
        assert ex["labels"][:n_prompt] == [IGNORE] * n_prompt
        assert ex["labels"][n_prompt:] == answer == ex["input_ids"][n_prompt:]
    cut = build_examples(CharTokenizer(), rows[:1], max_length=16)[0]   # the prompt is cut, not the answer
    assert len(cut["input_ids"]) == 16 and cut["labels"][-13:] == [ord(ch) for ch in " Shakespeare"] + [0]
    assert all(t == IGNORE for t in cut["labels"][:-13])


def _done(path: Path, name: str | None = None, rows: list | None = None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if name:
        write_jsonl(path / name, rows)
    (path / "DONE").write_text("{}")


def _ctx(tmp_path, name: str) -> StageContext:
    cfg = RunConfig(model="m0", preset=PRESETS["tiny"], engine="fake")
    return StageContext(cfg, tmp_path, name, "/models/m0", EnginePool("fake"), None)


def _knowledge(tmp_path) -> list[dict]:
    """Six questions M0 knows (mu 1) and six it does not (mu 1/3) whose correctness falls under rehearsal
    (so CRaFT's flow filter keeps them), each with its gold answer."""
    table = [{"id": f"k{i}", "correctness": 1.0, "certainty": 0.9 - i / 100} for i in range(6)] + \
            [{"id": f"u{i}", "correctness": 1 / 3, "certainty": 0.5 + i / 100} for i in range(6)]
    _done(tmp_path / "open" / "pool", "items.jsonl",
          [{"id": r["id"], "question": f"Question {r['id']}?", "aliases": [f"gold {r['id']}"],
            "answer": f"gold {r['id']}"} for r in table])
    _done(tmp_path / "open" / "query_m0", "knowledge.jsonl", table)
    _done(tmp_path / "open" / "query_rehearsed", "knowledge.jsonl",
          [{**r, "correctness": 0.0 if r["id"].startswith("u") else r["correctness"]}
           for r in table])
    return table


@pytest.mark.parametrize("method", ["rait", "corcer-rait", "craft-wo-cer", "craft"])
def test_the_idk_rows_of_the_rait_methods_are_the_refusal_and_the_vanilla_rows_the_gold(tmp_path, method):
    _knowledge(tmp_path)
    build = next(s for s in METHODS[method].stages("open") if s.name == f"open/{method}/build")
    ctx = _ctx(tmp_path, build.name)
    ctx.dir.mkdir(parents=True)
    build.run(ctx)
    rows = read_jsonl(ctx.dir / "sft_data.jsonl")
    idk, van = [r for r in rows if r["label"] == "idk"], [r for r in rows if r["label"] == "vanilla"]
    assert idk and van
    assert all(r["target"] == IDK and r["id"].startswith("u") for r in idk)
    assert all(r["target"] == f"gold {r['id']}" and r["id"].startswith("k") for r in van)


def test_crafts_final_sft_starts_from_m0_not_from_the_rehearsed_model(tmp_path, monkeypatch):
    import harness.training.sft
    _knowledge(tmp_path)
    seen = []

    def train(base, rows, sft, out, seed, **kw):
        seen.append((Path(out).relative_to(tmp_path).as_posix(), base, sorted(kw)))
        write_json(Path(out) / "train.json", {"mode": "lora", "examples": len(rows)})
        (Path(out) / "model").mkdir(exist_ok=True)
    monkeypatch.setattr(harness.training.sft, "train", train)
    stages = {s.name: s for s in METHODS["craft"].stages("open")}
    for name in ("open/rehearse", "open/craft/build", "open/craft/train"):
        ctx = _ctx(tmp_path, name)
        ctx.dir.mkdir(parents=True, exist_ok=True)
        stages[name].run(ctx)
        _done(ctx.dir)
    # the rehearsal and the final SFT both start from M0, and the final SFT reads only its constructed set
    assert [(out, base) for out, base, _ in seen] == [("open/rehearse", "/models/m0"), ("open/craft/train", "/models/m0")]
    assert not any("adapter" in k or "start" in k or "model" in k for _, _, kw in seen for k in kw)
    assert set(ctx.inputs) == {"open/craft/build"}


def test_the_generation_cache_keys_samples_by_temperature(tmp_path):
    class Counting(fake.FakeEngine):
        calls = 0

        def generate(self, prompts, *a, **k):
            Counting.calls += 1
            return super().generate(prompts, *a, **k)
    engine = CachingEngine(Counting(EngineSpec(model="fake", batch_size=4, cache=str(tmp_path / "g.sqlite")),
                                    {"rules": [], "default": ["x", "y"]}), "fake")
    engine.generate(["q"], n=2, temperature=0.7, seed=1)
    engine.generate(["q"], n=2, temperature=0.7, seed=1)
    assert Counting.calls == 1
    engine.generate(["q"], n=2, temperature=1.0, seed=1)        # same prompt and seed, another temperature
    assert Counting.calls == 2
    engine.generate(["q"], n=2, temperature=1.0, seed=1, max_new_tokens=64)
    assert Counting.calls == 3
