"""The pool executor with the real tiny model: two worker processes query, rehearse, build, train
(under two training seeds) and evaluate CRaFT and RAIT, and what they write is what the sequential
run wrote, byte for byte. In float32: in bf16 the same stage in another process once gave other
bytes (CI, 2026-12-03: the rehearsed model's knowledge table), so bf16 is not bitwise repeatable
across processes here and the identity is asked where it can hold."""
import pytest

from harness.bench import bench
from harness.executors import Executor
from harness.run.config import RunConfig
from harness.run.presets import PRESETS

pytestmark = [pytest.mark.integration, pytest.mark.slow]      # trains: make test-slow (CI)


def test_two_workers_write_what_one_process_wrote(data_dir, tmp_path):
    cfg = RunConfig(model="smollm2-135m", preset=PRESETS["tiny"], data_dir=str(data_dir), batch_size=8,
                    train_seeds=(0, 1), dtype="float32")
    bench(cfg, ["craft", "rait"], ["triviaqa"], tmp_path / "local")
    sequential = next((tmp_path / "local" / "runs").iterdir())
    out = tmp_path / "pool"
    rows = bench(cfg, ["craft", "rait"], ["triviaqa"], out, executor=Executor("pool", workers=2))
    assert [(r["method"], r["seed"]) for r in rows] == [("init-basic", None), ("craft", 0), ("craft@seed1", 1),
                                                       ("rait", 0), ("rait@seed1", 1)]
    pooled = next((out / "runs").iterdir())
    assert pooled.name == sequential.name                  # the executor is not part of the run's identity
    shared = ["open/query_m0/knowledge.jsonl", "open/rehearse/model/adapter_model.safetensors", "open/query_rehearsed/knowledge.jsonl",
              "open/rait/build/selection.jsonl", "open/craft/build/selection.jsonl",
              "open/rait/train/model/adapter_model.safetensors",
              *[f"eval/{m}/triviaqa/records.jsonl" for m in ("init-basic", "rait", "craft")]]
    for path in shared:
        assert (pooled / path).read_bytes() == (sequential / path).read_bytes(), path
    for path in ["eval/rait@seed1/triviaqa/records.jsonl", "eval/craft@seed1/triviaqa/records.jsonl"]:
        assert (pooled / path).read_bytes() == (sequential / path).read_bytes(), path
