import sqlite3

import pytest
import torch

from harness.engines.gencache import GenCache, sample_seed
from harness.engines.hf import SeededSampler
from harness.run.fingerprint import model_id

P = {"temperature": 0.7, "top_p": 1.0, "max_new_tokens": 16}


def cache(tmp_path, adapter=None, dtype="bfloat16"):
    return GenCache(tmp_path / "gen.sqlite", "hf", "org/model", adapter, dtype)


def test_round_trip_and_miss(tmp_path):
    c = cache(tmp_path)
    assert c.get("q", P, 0, 3) is None
    c.put([("q", ["a", "b", "c"])], P, 0)
    assert c.get("q", P, 0, 3) == ["a", "b", "c"]
    assert c.get("q", P, 0, 2) == ["a", "b"]          # sample k is keyed by k, not by n
    assert c.get("q", P, 0, 4) is None                # sample 3 was never drawn
    assert (c.hits, c.misses) == (2, 2)


def test_persists_across_connections(tmp_path):
    cache(tmp_path).put([("q", ["a"])], P, 0)
    assert cache(tmp_path).get("q", P, 0, 1) == ["a"]


@pytest.mark.parametrize("change", ["prompt", "params", "seed", "adapter", "dtype"])
def test_key_covers_everything_that_changes_an_answer(tmp_path, change):
    cache(tmp_path).put([("q", ["a"])], P, 0)
    c = cache(tmp_path, adapter="org/adapter" if change == "adapter" else None,
              dtype="float32" if change == "dtype" else "bfloat16")
    prompt = "q2" if change == "prompt" else "q"
    params = {**P, "temperature": 1.0} if change == "params" else P
    assert c.get(prompt, params, 1 if change == "seed" else 0, 1) is None


def test_local_model_keyed_by_content(tmp_path):
    d = tmp_path / "adapter"
    d.mkdir()
    (d / "adapter_model.safetensors").write_bytes(b"one")
    before = model_id(str(d))
    (d / "adapter_model.safetensors").write_bytes(b"two")
    assert model_id(str(d)) != before and before.startswith("dir:")
    assert model_id("org/model") == "hub:org/model"


def test_corrupt_entry_is_detected_and_recomputed(tmp_path, capsys):
    c = cache(tmp_path)
    c.put([("q", ["right"])], P, 0)
    with c.db:
        c.db.execute("UPDATE gen SET value = ?", ['"tampered"'])
    assert c.get("q", P, 0, 1) is None and c.corrupt == 1
    assert "fails its checksum" in capsys.readouterr().err
    c.put([("q", ["again"])], P, 0)
    assert c.get("q", P, 0, 1) == ["again"]


def test_unreadable_database_is_moved_aside(tmp_path, capsys):
    (tmp_path / "gen.sqlite").write_bytes(b"this is not a database" * 100)
    c = cache(tmp_path)
    assert c.get("q", P, 0, 1) is None
    aside = list(tmp_path.glob("gen.sqlite.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")
    assert "unreadable" in capsys.readouterr().err
    c.put([("q", ["a"])], P, 0)
    assert sqlite3.connect(tmp_path / "gen.sqlite").execute("SELECT count(*) FROM gen").fetchone() == (1,)


def test_sample_seed_depends_on_prompt_seed_and_index_only():
    assert sample_seed(0, "q", 1) == sample_seed(0, "q", 1)
    assert len({sample_seed(0, "q", 0), sample_seed(1, "q", 0), sample_seed(0, "r", 0), sample_seed(0, "q", 1)}) == 4


def test_seeded_sampler_draws_from_softmax_over_temperature():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    want = torch.softmax(logits / 0.7, -1)[0]
    counts = torch.zeros(4)
    for s in range(4000):
        scores = SeededSampler([s], 0.7, prompt_len=5, max_new_tokens=1)(torch.zeros(1, 5), logits.clone())
        assert torch.isinf(scores).sum() == 3          # exactly one token left possible
        counts[scores[0].argmax()] += 1
    assert torch.allclose(counts / 4000, want, atol=0.025)


def test_seeded_sampler_rows_do_not_depend_on_their_batch():
    torch.manual_seed(0)
    logits = torch.randn(3, 50)
    together = SeededSampler([11, 22, 33], 1.0, 4, 8)(torch.zeros(3, 4), logits.clone()).argmax(-1)
    alone = SeededSampler([22], 1.0, 4, 8)(torch.zeros(1, 4), logits[1:2].clone()).argmax(-1)
    assert together[1] == alone[0]
    later = SeededSampler([22], 1.0, 4, 8)(torch.zeros(1, 6), logits[1:2].clone()).argmax(-1)
    assert SeededSampler([22], 1.0, 4, 8).uniform[0, 0] != SeededSampler([22], 1.0, 4, 8).uniform[0, 2]
    assert later.shape == alone.shape
