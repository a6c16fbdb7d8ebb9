"""harness.training.sft on the real SmolLM2-135M at tiny scale (a few rows, one or two steps)."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import replace

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402

from harness.run.config import SFTConfig  # noqa: E402
from harness.training.sft import build_examples, train  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]      # trains: make test-slow (CI)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

QUESTIONS = ["What is the capital of France?", "Name a large ocean.", "Who wrote Hamlet?",
             "What colour is the sky?", "How many legs does a spider have?", "What is 2 + 2?",
             "Name a planet.", "What do bees make?"]
ROWS = [{"prompt": q, "target": "Zanzibar"} for q in QUESTIONS]
TINY = SFTConfig(mode="lora", epochs=1, lr=1e-3, batch_size=4, grad_accum=1, warmup_ratio=0.0,
                 lora_r=8, lora_alpha=16, lora_dropout=0.05, max_length=128)


@pytest.fixture(scope="module")
def tok(base):
    return transformers.AutoTokenizer.from_pretrained(base)


def load(base, adapter=None):
    model = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    if adapter:
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return model.eval()


@torch.inference_mode()
def target_loss(model, examples) -> float:
    losses = [model(input_ids=torch.tensor([ex["input_ids"]]), labels=torch.tensor([ex["labels"]])).loss
              for ex in examples]
    return float(torch.stack(losses).mean())


def test_build_examples_masks_prompt_and_matches_inference_template(tok):
    rows = [{"prompt": "Who wrote Hamlet?", "target": "William Shakespeare"}, ROWS[0]]
    for row, ex in zip(rows, build_examples(tok, rows, max_length=256)):
        text = tok.apply_chat_template([{"role": "user", "content": row["prompt"]}],
                                       tokenize=False, add_generation_prompt=True)
        prompt = tok(text, add_special_tokens=False)["input_ids"]
        n = len(prompt)
        assert ex["input_ids"][:n] == prompt
        assert ex["labels"][:n] == [-100] * n
        assert -100 not in ex["labels"][n:]
        assert ex["labels"][n:] == ex["input_ids"][n:]
        assert ex["input_ids"][-1] == tok.eos_token_id
        assert tok.decode(ex["labels"][n:]) == row["target"] + "<|im_end|>"


def test_build_examples_truncates_prompt_from_the_left_only(tok):
    row = {"prompt": "word " * 200, "target": "Zanzibar"}
    full = build_examples(tok, [row], max_length=10_000)[0]
    cut = build_examples(tok, [row], max_length=40)[0]
    assert len(cut["input_ids"]) == 40
    assert cut["input_ids"] == full["input_ids"][-40:]
    answer = [t for t in cut["labels"] if t != -100]
    assert tok.decode(answer) == "Zanzibar<|im_end|>"
    with pytest.raises(ValueError, match="max_length"):
        build_examples(tok, [row], max_length=3)


@pytest.fixture(scope="module")
def lora_run(base, tmp_path_factory):
    out = tmp_path_factory.mktemp("lora")
    return out, train(base, ROWS, TINY, out, seed=0)


def test_lora_training_saves_adapter_and_learns_the_target(base, tok, lora_run):
    out, report = lora_run
    adapter = out / "model"
    assert (adapter / "adapter_config.json").is_file()
    assert not (adapter / "config.json").exists()          # only the adapter, not the base model
    assert not (out / "checkpoints").exists()              # removed after the final save
    assert json.loads((out / "train.json").read_text()) == report
    assert report["mode"] == "lora" and report["path"] == str(adapter)
    assert report["examples"] == 8 and report["steps"] == 2
    assert report["train_loss"] > 0 and report["seconds"] > 0

    examples = build_examples(tok, ROWS, TINY.max_length)
    plain, tuned = load(base), load(base, str(adapter))
    ids = torch.tensor([examples[0]["input_ids"]])
    with torch.inference_mode():
        assert not torch.allclose(plain(input_ids=ids).logits, tuned(input_ids=ids).logits)
    before, after = target_loss(plain, examples), target_loss(tuned, examples)
    print(f"target loss: base {before:.3f}, tuned {after:.3f}")
    assert after < before - 0.5


def test_training_is_deterministic_for_a_seed(base, lora_run, tmp_path):
    """Same rows, config and seed in another directory: the same loss and the same adapter weights
    (LoRA init, data order and dropout all come from the seed)."""
    from safetensors.torch import load_file

    out, report = lora_run
    again = train(base, ROWS, TINY, tmp_path, seed=0)
    assert again["steps"] == report["steps"] == 2
    assert again["train_loss"] == report["train_loss"]
    first = load_file(out / "model" / "adapter_model.safetensors")
    second = load_file(tmp_path / "model" / "adapter_model.safetensors")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


class Interrupt(Exception):
    pass


def test_resume_continues_from_a_checkpoint(base, tmp_path, monkeypatch):
    """A checkpoint left by an interrupted run is picked up: the rerun trains only what was left."""
    cfg = replace(TINY, epochs=2)           # 4 rows, batch 4: one step per epoch

    class Stop(transformers.TrainerCallback):
        def on_save(self, args, state, control, **kwargs):      # called after checkpoint-1 is written
            raise Interrupt

    class Interrupted(transformers.Trainer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.add_callback(Stop())

    with monkeypatch.context() as patch:
        # transformers 5: sys.modules["transformers"] is not the module object `import` bound above.
        patch.setattr(sys.modules["transformers"], "Trainer", Interrupted)
        with pytest.raises(Interrupt):
            train(base, ROWS[:4], cfg, tmp_path, seed=0)
    assert [p.name for p in (tmp_path / "checkpoints").glob("checkpoint-*")] == ["checkpoint-1"]
    assert not (tmp_path / "model").exists()

    steps = []

    class Counting(transformers.Trainer):
        def training_step(self, *a, **k):
            steps.append(self.state.global_step)
            return super().training_step(*a, **k)

    with monkeypatch.context() as patch:
        patch.setattr(sys.modules["transformers"], "Trainer", Counting)
        resumed = train(base, ROWS[:4], cfg, tmp_path, seed=0)
    assert steps == [1]                                         # only the second epoch's step ran
    assert resumed["steps"] == 2
    assert (tmp_path / "model" / "adapter_config.json").is_file()
    assert not (tmp_path / "checkpoints").exists()


def test_full_mode_saves_a_loadable_model(base, tok, tmp_path):
    cfg = replace(TINY, mode="full", lr=1e-5)
    report = train(base, ROWS[:4], cfg, tmp_path, seed=0)
    assert report["mode"] == "full" and report["steps"] == 1
    model_dir = tmp_path / "model"
    assert (model_dir / "config.json").is_file() and (model_dir / "tokenizer_config.json").is_file()
    model = load(str(model_dir))
    ex = build_examples(tok, ROWS[:1], 128)
    assert torch.isfinite(torch.tensor(target_loss(model, ex)))


@pytest.mark.parametrize("rows, cfg, message", [
    ([], TINY, "no training rows"),
    ([{"prompt": "q"}], TINY, "'target'"),
    ([{"target": "a"}], TINY, "'prompt'"),
    (ROWS, SFTConfig(mode="qlora"), "unknown SFT mode 'qlora'"),
])
def test_train_rejects_bad_input(tmp_path, rows, cfg, message):
    with pytest.raises(ValueError, match=message):
        train("/nonexistent/model", rows, cfg, tmp_path)
    assert not (tmp_path / "model").exists()


@torch.inference_mode()
def test_answer_only_logits_give_the_default_causal_lm_loss(base, tok):
    """The trainer projects only answer-predicting positions onto the vocabulary; its loss must be
    the model's own loss over labels != -100, with and without a global token count."""
    from types import SimpleNamespace

    from harness.training.sft import PadCollator, answer_only_trainer
    model = load(base)
    batch = PadCollator(tok.pad_token_id)(build_examples(tok, ROWS[:3], 128))
    expected = model(**batch).loss
    stub = SimpleNamespace(args=SimpleNamespace(average_tokens_across_devices=False))
    ours = answer_only_trainer().compute_loss(stub, model, dict(batch))
    assert float(ours) == pytest.approx(float(expected), rel=1e-5)
    count = int((batch["labels"][:, 1:] != -100).sum())
    summed = answer_only_trainer().compute_loss(stub, model, dict(batch), num_items_in_batch=2 * count)
    assert float(summed) == pytest.approx(float(expected) / 2, rel=1e-5)
