"""The roofline cost estimate (harness.run.cost) on hand-computed cases, and the dry run that prints it."""
import pytest

from harness.cli import main
from harness.run import cost

LLAMA = cost.SHAPES["meta-llama/Meta-Llama-3-8B-Instruct"]
H100 = cost.DEVICES["H100"]


def test_training_is_compute_bound_and_full_fine_tuning_does_not_fit_one_gpu():
    w = cost.Work("sft", "train", sequences=1000, prompt_tokens=2048, epochs=3, full=True, micro_batch=1)
    # 6 x 8.03e9 x 1000 x 2048 x 3 FLOPs at 40% of 989 TFLOPS
    assert cost.gpu_seconds(w, LLAMA, H100) == pytest.approx(6 * 8.03e9 * 2048e3 * 3 / (989e12 * 0.4))
    assert cost.memory_gb(w, LLAMA, 1) > 80 > cost.memory_gb(w, LLAMA, 8)     # 16 bytes a parameter, sharded
    lora = cost.Work("sft", "train", 1000, 2048, epochs=3, four_bit=True, micro_batch=1)
    assert cost.gpu_seconds(lora, LLAMA, H100) == pytest.approx(cost.gpu_seconds(w, LLAMA, H100) * 4 / 6)
    assert cost.memory_gb(lora, LLAMA) < 20                                  # a 4-bit base: ~4.4 GB of weights


def test_decoding_is_bandwidth_bound():
    w = cost.Work("query", "generate", sequences=256, prompt_tokens=0, new_tokens=10)
    step = (LLAMA.params * 2 + 2 * 32 * 8 * 128 * 2 * 256 * 5) / (3.35e12 * 0.5)
    assert cost.gpu_seconds(w, LLAMA, H100) == pytest.approx(10 * step)
    assert cost.memory_gb(w, LLAMA, 1) == pytest.approx((LLAMA.params * 2 + 2 * 32 * 8 * 128 * 2 * 256 * 10) / 1e9)


def test_a_local_config_gives_the_shape(tmp_path):
    (tmp_path / "config.json").write_text('{"hidden_size": 576, "num_hidden_layers": 30, "num_attention_heads": 9, '
                                          '"num_key_value_heads": 3, "intermediate_size": 1536, "vocab_size": 49152, '
                                          '"tie_word_embeddings": true}')
    s = cost.shape_of(str(tmp_path))
    assert s.params == pytest.approx(1.35e8, rel=0.02) and s.kv_heads == 3 and s.head_dim == 64


def test_the_paper_dry_run_prints_memory_gpu_hours_and_sources(capsys):
    assert main(["bench", "--methods", "craft,rait", "--preset", "paper", "--tasks", "triviaqa", "--dry-run",
                 "--model", "meta-llama/Meta-Llama-3-8B-Instruct"]) == 0
    out = capsys.readouterr().out
    assert "8.03B parameters" in out and "GPU-hours" in out and "on 8 GPUs" in out
    assert "open craft SFT" in out and "(DOES NOT FIT), " in out                   # full SFT of 8B on one GPU
    assert "NVIDIA H100 datasheet" in out and "days" in out
