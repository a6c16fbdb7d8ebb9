"""bench --dry-run (harness.dryrun): the plan and its cost, without loading a model."""
import re

import pytest


def test_dry_run_plans_without_loading_a_model(data_dir, tmp_path, capsys):
    from harness.cli import main
    assert main(["bench", "--preset", "paper", "--methods", "craft,rait", "--tasks", "triviaqa,mmlu",
                 "--model", "meta-llama/Meta-Llama-3-8B-Instruct", "--data-dir", str(data_dir),
                 "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "[run ] open/query_rehearsed <- open/pool, open/rehearse" in text and text.count("] open/pool\n") == 1
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


def test_dry_run_predicts_the_wall_time_on_n_gpus_from_the_graph(data_dir, tmp_path, capsys):
    from harness.cli import main
    assert main(["bench", "--preset", "paper", "--methods", "all", "--tasks", "triviaqa,mmlu", "--seeds", "0,1,2",
                 "--model", "meta-llama/Meta-Llama-3-8B-Instruct", "--data-dir", str(data_dir),
                 "--out", str(tmp_path / "out"), "--dry-run", "--workers", "8"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    one, path = re.search(r"one process ([\d.]+) h; critical path ([\d.]+) h", text).groups()
    wall, speedup = re.search(r"on 8 workers .*?: ([\d.]+) h, ([\d.]+)x faster", text).groups()
    assert float(path) <= float(wall) < float(one) and float(one) / float(wall) == pytest.approx(float(speedup), abs=0.06)
    # the flow methods' chain (query, rehearse, query again, build, train, evaluate) is the longest
    assert re.search(r"(open|choice)/query_m0 -> \1/rehearse -> \1/query_rehearsed -> \1/[a-z-]+/build", text)
