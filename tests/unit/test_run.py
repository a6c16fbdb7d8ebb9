import os
from dataclasses import replace

import pytest

from harness.config import PRESETS, RunConfig, preset
from harness.run import Stage, StageContext, config_hash, run_stages


def test_hash_ignores_speed_and_location_but_not_results():
    cfg = RunConfig(model="smollm2-135m", preset=PRESETS["smoke"])
    assert config_hash(cfg) == config_hash(replace(cfg, batch_size=64, data_dir="/elsewhere"))
    assert config_hash(cfg) != config_hash(replace(cfg, seed=1))
    assert config_hash(cfg) != config_hash(replace(cfg, limit=5))
    assert config_hash(cfg) != config_hash(replace(cfg, dtype="float32"))
    # --limit equal to the preset's own size is the same run
    assert config_hash(cfg) == config_hash(replace(cfg, limit=cfg.preset.n_test))


def test_unknown_preset_lists_valid():
    with pytest.raises(ValueError, match="tiny, smoke, small, paper"):
        preset("huge")


def test_paper_preset_matches_the_paper_setup():
    p = PRESETS["paper"]
    assert (p.open.pool_size, p.open.n_van, p.open.n_idk, p.open.n_samples, p.open.n_shot) == (10000, 8000, 2000, 10, 3)
    assert (p.open.sft.mode, p.open.sft.lr, p.open.sft.epochs) == ("full", 8e-6, 3)
    c = p.choice
    assert (c.pool_dataset, c.pool_split, c.pool_size, c.n_van, c.n_idk, c.n_shot) == ("mmlu", "test", 5000, 4000, 1000, 5)
    assert (c.sft.mode, c.sft.lora_r, c.sft.lora_alpha, c.sft.lora_dropout, c.sft.lr) == ("lora", 64, 16, 0.1, 2e-4)
    assert (c.tau_lo, c.tau_hi, c.rehearsal_min_correctness, c.rehearsal_min_certainty) == (0.5, 0.5, 0.99, None)
    assert (p.open.tau_lo, p.open.tau_hi, p.open.rehearsal_min_certainty) == (0.49, 0.51, 0.995)


def _ctx_factory(tmp_path):
    cfg = RunConfig(model="m", preset=PRESETS["smoke"])
    return lambda name: StageContext(cfg, tmp_path, name, "m", None)


def test_stages_run_once_write_done_last_and_resume(tmp_path):
    ran = []

    def ok(ctx):
        ran.append(ctx.name)
        (ctx.dir / "out.txt").write_text("x")

    def boom(ctx):
        ran.append(ctx.name)
        raise RuntimeError("crash")

    make = _ctx_factory(tmp_path)
    with pytest.raises(RuntimeError):
        run_stages([Stage("a", ok), Stage("a", ok), Stage("b", boom)], make)
    assert ran == ["a", "b"]                       # the duplicate "a" ran once
    assert (tmp_path / "a" / "DONE").exists() and not (tmp_path / "b" / "DONE").exists()
    run_stages([Stage("a", ok), Stage("b", ok)], make)
    assert ran == ["a", "b", "b"]                  # resume: only the unfinished stage reruns


def test_stage_input_must_be_done(tmp_path):
    ctx = _ctx_factory(tmp_path)("later")
    with pytest.raises(RuntimeError, match="needs earlier"):
        ctx.input("earlier")


@pytest.mark.parametrize("change, message", [
    (dict(n_van=-1), "n_van must not be negative"),
    (dict(tau_lo=0.6, tau_hi=0.4), "tau_lo <= tau_hi"),
    (dict(tau_hi=1.5), "tau_lo <= tau_hi <= 1"),
    (dict(n_van=140, n_idk=20), "exceeds pool_size 150"),
    (dict(pool_size=0), "pool_size must be a positive integer"),
    (dict(n_samples=1), "n_samples >= 2"),
])
def test_bad_domain_config_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        replace(PRESETS["smoke"].open, **change)


def test_bad_sft_config_is_refused():
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        replace(PRESETS["smoke"].open.sft, epochs=0)


def test_a_corrupted_stage_output_is_detected_and_recomputed(tmp_path, capsys):
    ran = []

    def write(ctx):
        ran.append(ctx.name)
        (ctx.dir / "out.jsonl").write_text('{"a": 1}\n{"b": 2}\n')

    make = _ctx_factory(tmp_path)
    run_stages([Stage("s", write)], make)
    run_stages([Stage("s", write)], make)
    assert ran == ["s"]                                          # intact: skipped
    (tmp_path / "s" / "out.jsonl").write_text('{"a": 1}\n')      # truncated behind our back
    run_stages([Stage("s", write)], make)
    assert ran == ["s", "s"]
    assert "differ from those recorded in DONE (out.jsonl)" in " ".join(capsys.readouterr().err.split())
    assert (tmp_path / "s" / "out.jsonl").read_text().count("\n") == 2


def test_big_files_are_fingerprinted_by_size_and_ends(tmp_path, monkeypatch):
    import harness.run as run
    monkeypatch.setattr(run, "BIG", 10)
    f = tmp_path / "big.bin"
    f.write_bytes(b"x" * (20 << 20))
    before = run.fingerprint(f)
    with open(f, "r+b") as h:
        h.seek(-1, 2)
        h.write(b"y")
    assert run.fingerprint(f) != before and before.startswith(f"{20 << 20}:")


def test_one_process_per_run_directory(tmp_path):
    from harness.run import BusyError, run_lock
    with run_lock(tmp_path):
        with pytest.raises(BusyError, match=f"pid {os.getpid()}"):
            with run_lock(tmp_path):
                pass
    with run_lock(tmp_path):                                    # released: usable again
        pass
