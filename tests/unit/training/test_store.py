import json
from dataclasses import replace

from harness.run.config import SFTConfig
from harness.training import store as sftcache

ROWS = [{"id": "a", "prompt": "Q?", "target": "A", "label": "vanilla"}]
SFT = SFTConfig(mode="lora", epochs=1)


def test_key_covers_what_changes_the_weights_only():
    k = sftcache.key("org/m", SFT, ROWS, 0, True)
    assert k == sftcache.key("org/m", SFT, [{**ROWS[0], "id": "other", "label": "x"}], 0, True)
    for other in (sftcache.key("org/n", SFT, ROWS, 0, True), sftcache.key("org/m", replace(SFT, lr=1e-3), ROWS, 0, True),
                  sftcache.key("org/m", SFT, [{**ROWS[0], "target": "B"}], 0, True),
                  sftcache.key("org/m", SFT, ROWS, 1, True), sftcache.key("org/m", SFT, ROWS, 0, False)):
        assert other != k


def trained(stage):
    (stage / "model").mkdir(parents=True)
    (stage / "model" / "adapter_model.safetensors").write_bytes(b"weights")
    (stage / "train.json").write_text(json.dumps({"mode": "lora", "steps": 3, "path": str(stage / "model")}))
    return stage


def test_store_then_restore_elsewhere(tmp_path):
    cache = tmp_path / "cache"
    assert not sftcache.restore(cache, "k1", tmp_path / "b")
    sftcache.store(cache, "k1", trained(tmp_path / "a"))
    assert (cache / "sft" / "k1" / "DONE").exists()
    (tmp_path / "b").mkdir()
    assert sftcache.restore(cache, "k1", tmp_path / "b")
    assert (tmp_path / "b" / "model" / "adapter_model.safetensors").read_bytes() == b"weights"
    report = json.loads((tmp_path / "b" / "train.json").read_text())
    assert report["steps"] == 3 and report["reused"] == "k1" and report["path"] == str(tmp_path / "b" / "model")


def test_entry_without_done_is_not_used_and_is_replaced(tmp_path):
    cache = tmp_path / "cache"
    (cache / "sft" / "k1" / "model").mkdir(parents=True)      # what a store killed midway would leave
    assert not sftcache.restore(cache, "k1", tmp_path / "b")
    sftcache.store(cache, "k1", trained(tmp_path / "a"))
    assert (cache / "sft" / "k1" / "DONE").exists()


def test_adapter_config_is_written_in_a_canonical_order(tmp_path):
    """peft writes target_modules in set order, which varies between processes; the harness sorts it
    so that identical training gives identical files (and the generation cache key of the adapter)."""
    from harness.training.sft import canonical_adapter_config
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 4, "target_modules": ["v_proj", "q_proj"]}))
    canonical_adapter_config(tmp_path)
    assert json.loads((tmp_path / "adapter_config.json").read_text())["target_modules"] == ["q_proj", "v_proj"]
    canonical_adapter_config(tmp_path / "missing")          # a full model directory has none: no error


def test_corrupt_entry_is_reported_and_retrained_not_restored(tmp_path, capsys):
    cache = tmp_path / "cache"
    sftcache.store(cache, "k1", trained(tmp_path / "a"))
    (cache / "sft" / "k1" / "model" / "adapter_model.safetensors").unlink()      # break the hard link
    (cache / "sft" / "k1" / "model" / "adapter_model.safetensors").write_bytes(b"wei")   # truncated
    (tmp_path / "b").mkdir()
    assert not sftcache.restore(cache, "k1", tmp_path / "b")
    assert "does not match its DONE record" in capsys.readouterr().err
    sftcache.store(cache, "k1", tmp_path / "a")                                 # a retrain stores it again
    assert sftcache.restore(cache, "k1", tmp_path / "b")
    assert (tmp_path / "b" / "model" / "adapter_model.safetensors").read_bytes() == b"weights"


def test_a_second_process_storing_the_same_entry_keeps_the_first(tmp_path, monkeypatch):
    """Two workers (executors) that trained the same rows store the same entry: the second, which
    found no entry when it first looked, leaves the first one whole (a third may be restoring it)."""
    cache = tmp_path / "cache"
    sftcache.store(cache, "k1", trained(tmp_path / "a"))
    first = (cache / "sft" / "k1").stat().st_ino
    real, calls = sftcache._intact, []

    def intact(path):                      # the second's first look came before the first's store
        calls.append(path)
        return False if len(calls) == 1 else real(path)
    monkeypatch.setattr(sftcache, "_intact", intact)
    sftcache.store(cache, "k1", trained(tmp_path / "b"))
    assert (cache / "sft" / "k1").stat().st_ino == first and real(cache / "sft" / "k1")
    assert [p.name for p in (cache / "sft").iterdir()] == ["k1"]          # its temporary copy removed
