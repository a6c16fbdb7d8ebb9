"""The answer-only loss is the same whether transformers slices the logits by a boolean mask
(logits_to_keep, transformers >= 5.2x) or the harness projects every position and masks afterwards
(older transformers, e.g. 5.17 on the GPU machines)."""

import pytest

from harness.run.config import SFTConfig

torch = pytest.importorskip("torch")


def test_masked_and_full_logits_give_the_same_answer_only_loss(monkeypatch):
    from transformers import LlamaConfig, LlamaForCausalLM, TrainingArguments

    from harness.training import sft
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2))
    labels = torch.tensor([[-100, -100, 5, 6, 7, -100], [-100, 9, 10, -100, -100, -100]])
    batch = {"input_ids": torch.tensor([[1, 2, 5, 6, 7, 0], [3, 9, 10, 0, 0, 0]]),
             "attention_mask": (labels != -99).long(), "labels": labels}
    args = TrainingArguments(output_dir="/tmp/unused", use_cpu=True, report_to=[])
    losses = {}
    for masked in (True, False):
        if masked and not sft.masked_logits_supported():
            continue
        monkeypatch.setattr(sft, "masked_logits_supported", lambda masked=masked: masked)
        trainer = sft.answer_only_trainer()(model=model, args=args)
        losses[masked] = float(trainer.compute_loss(model, dict(batch)))
    manual = torch.nn.functional.cross_entropy(model(input_ids=batch["input_ids"]).logits[:, :-1].reshape(-1, 64),
                                               labels[:, 1:].reshape(-1), ignore_index=-100)
    for value in losses.values():
        assert value == pytest.approx(float(manual), rel=1e-5)
    assert False in losses


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
