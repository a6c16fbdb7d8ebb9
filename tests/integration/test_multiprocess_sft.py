"""`harness train` under torchrun with two CPU processes (gloo): the data-parallel path a multi-GPU
node uses, with the same global batch as a single process."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from harness.run.io import write_jsonl

pytestmark = [pytest.mark.integration, pytest.mark.slow]      # trains: make test-slow (CI)

ROWS = [{"prompt": f"Question {i}: what is {i} plus {i}?", "target": str(2 * i)} for i in range(16)]


def test_torchrun_two_processes_train_with_the_global_batch(base, tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    if torchrun is None:
        pytest.skip("torchrun is not installed next to this python")
    write_jsonl(tmp_path / "rows.jsonl", ROWS)
    (tmp_path / "sft.json").write_text(json.dumps(
        {"mode": "lora", "epochs": 1, "lr": 1e-3, "batch_size": 8, "lora_r": 4, "lora_alpha": 8}))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [torchrun, "--nproc_per_node", "2", "--master_port", "29517", "-m", "harness.cli", "train",
           "--model", base, "--data", str(tmp_path / "rows.jsonl"), "--out", str(tmp_path / "out"),
           "--sft-config", str(tmp_path / "sft.json"), "--dtype", "float32"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "train.json").read_text())
    # 16 rows at a global batch of 8 (4 per process): 2 optimizer steps, as in one process.
    assert report["steps"] == 2 and report["examples"] == 16
    assert report["processes"] == 2 and report["global_batch"] == 8
    assert (tmp_path / "out" / "model" / "adapter_model.safetensors").exists()
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_batch_not_divisible_by_processes_is_refused(monkeypatch):
    from harness.training.sft import per_device_batch
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ValueError, match="batch_size 8 is not divisible by the 3 training processes"):
        per_device_batch(8)
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert per_device_batch(8) == 2


def test_bench_trains_through_the_launcher(base, tmp_path, data_dir):
    """`harness bench --train-launcher 'torchrun --nproc_per_node 2'`: every SFT stage runs as two
    data-parallel processes; the rest of the pipeline is unchanged."""
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    if torchrun is None:
        pytest.skip("torchrun is not installed next to this python")
    cmd = [sys.executable, "-m", "harness.cli", "bench", "--methods", "craft", "--tasks", "triviaqa",
           "--preset", "tiny", "--data-dir", str(data_dir), "--out", str(tmp_path),
           "--train-launcher", f"{torchrun} --nproc_per_node 2 --master_port 29518"]
    done = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    run = next((tmp_path / "runs").iterdir())
    rehearsal = json.loads((run / "open/rehearse/train.json").read_text())   # always 3 rows in tiny
    assert rehearsal["mode"] == "lora" and rehearsal["processes"] == 2
    craft = json.loads((run / "open/craft/train/train.json").read_text())
    assert craft["mode"] == "none" or craft["processes"] == 2
    assert json.loads((tmp_path / "leaderboard.json").read_text())


def test_torchrun_two_processes_run_dpo_as_harness_train_does_for_the_launcher(base, tmp_path):
    """The preference stage under --train-launcher runs `harness train --dpo-beta ...`: TRL's DPO in two
    data-parallel processes, the same global batch, a full model saved once, no checkpoint left."""
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    if torchrun is None:
        pytest.skip("torchrun is not installed next to this python")
    write_jsonl(tmp_path / "pairs.jsonl", [{**r, "rejected": "I don't know"} for r in ROWS])
    (tmp_path / "sft.json").write_text(json.dumps(
        {"mode": "lora", "epochs": 1, "lr": 1e-3, "batch_size": 8, "lora_r": 4, "lora_alpha": 8}))
    cmd = [torchrun, "--nproc_per_node", "2", "--master_port", "29519", "-m", "harness.cli", "train",
           "--model", base, "--data", str(tmp_path / "pairs.jsonl"), "--out", str(tmp_path / "out"),
           "--sft-config", str(tmp_path / "sft.json"), "--dtype", "float32", "--dpo-beta", "0.1",
           "--dpo-sft-weight", "0.01"]
    done = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "train.json").read_text())
    assert report["objective"] == "dpo" and report["mode"] == "full" and report["pairs"] == 16
    assert report["steps"] == 2 and report["processes"] == 2 and report["global_batch"] == 8
    assert (tmp_path / "out" / "model" / "config.json").exists()
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_dpo_killed_after_its_first_checkpoint_resumes_to_the_uninterrupted_weights(base, tmp_path):
    """The preference stage resumes as SFT does: SIGKILL right after the epoch-1 checkpoint
    (HARNESS_FAILPOINT=sft-save@1), rerun, and the saved model equals an uninterrupted run's."""
    import hashlib
    write_jsonl(tmp_path / "pairs.jsonl", [{**r, "rejected": "I don't know"} for r in ROWS])
    (tmp_path / "sft.json").write_text(json.dumps(
        {"mode": "lora", "epochs": 2, "lr": 1e-3, "batch_size": 8, "lora_r": 4, "lora_alpha": 8}))

    def train(out, failpoint=None):
        env = {**os.environ, "OMP_NUM_THREADS": "1", **({"HARNESS_FAILPOINT": failpoint} if failpoint else {})}
        return subprocess.run([sys.executable, "-m", "harness.cli", "train", "--model", base, "--data",
                               str(tmp_path / "pairs.jsonl"), "--out", str(out), "--sft-config",
                               str(tmp_path / "sft.json"), "--dtype", "float32", "--dpo-beta", "0.1"],
                              env=env, capture_output=True, text=True, timeout=600)

    def weights(out):
        return hashlib.sha256((out / "model" / "model.safetensors").read_bytes()).hexdigest()
    assert train(tmp_path / "straight").returncode == 0
    killed = train(tmp_path / "resumed", "sft-save@1")
    assert killed.returncode != 0 and any((tmp_path / "resumed" / "checkpoints").glob("checkpoint-*"))
    assert not (tmp_path / "resumed" / "model").exists()
    done = train(tmp_path / "resumed")
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "resumed" / "train.json").read_text())["steps"] == 4
    assert weights(tmp_path / "resumed") == weights(tmp_path / "straight")
