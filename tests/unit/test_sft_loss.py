"""The answer-only loss is the same whether transformers slices the logits by a boolean mask
(logits_to_keep, transformers >= 5.2x) or the harness projects every position and masks afterwards
(older transformers, e.g. 5.17 on the GPU machines)."""
import pytest

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
