import os
from dataclasses import replace

import pytest

from harness.run.config import RunConfig
from harness.run.presets import PRESETS, preset
from harness.run.stage import Stage, StageContext, config_hash, run_stages


def test_hash_ignores_speed_and_location_but_not_results():
    cfg = RunConfig(model="smollm2-135m", preset=PRESETS["smoke"], dtype="bfloat16")
    assert config_hash(cfg) == config_hash(replace(cfg, batch_size=64, data_dir="/elsewhere"))
    assert config_hash(cfg) != config_hash(replace(cfg, seed=1))
    assert config_hash(cfg) != config_hash(replace(cfg, limit=5))
    assert config_hash(cfg) != config_hash(replace(cfg, dtype="float32"))
    # --limit equal to the preset's own size is the same run
    assert config_hash(cfg) == config_hash(replace(cfg, limit=cfg.preset.n_test))


def test_unknown_preset_lists_valid():
    with pytest.raises(ValueError, match="tiny, smoke, small, paper"):
        preset("huge")


def test_paper_preset_matches_the_released_code():
    """SPEC sections 1 and 3, row by row (docs/fidelity.md)."""
    p = PRESETS["paper"]
    o, c, s = p.open, p.choice, p.scoring
    assert (o.pool_dataset, o.pool_split, o.pool_size, o.n_van, o.n_idk) == ("triviaqa", "train", None, 8000, 2000)
    assert (o.n_samples, o.temperature, o.n_shot, o.query_max_new_tokens) == (10, 1.0, 3, 50)
    assert (o.fewshot_multiturn, o.query_answer) == (True, "whole")
    assert (o.sft.mode, o.sft.lr, o.sft.epochs, o.sft.packing, o.sft.max_length) == ("full", 8e-6, 3, True, 2048)
    assert o.sft.batch_size * o.sft.grad_accum == 64                       # 4 GPUs x 16 accumulation x 1
    assert (o.rehearsal_sft.mode, o.rehearsal_sft.lr, o.rehearsal_sft.warmup_ratio) == ("full", 2e-6, 0.0)
    assert (o.tau_lo, o.tau_hi, o.rehearsal_min_certainty, o.keep_zero_flow) == (0.49, 0.51, 0.995, False)
    assert (c.pool_dataset, c.pool_split, c.pool_size, c.n_van, c.n_idk, c.n_shot) == ("mmlu", "test", None, 4000, 1000, 5)
    assert (c.query_chat_template, c.shot_split, c.choice_entropy, c.draw_with_replacement) == (
        False, "validation", "raw", True)
    assert (c.sft.mode, c.sft.lora_r, c.sft.lora_alpha, c.sft.lora_dropout, c.sft.lr) == ("lora", 64, 16, 0.1, 2e-4)
    assert (c.sft.target_modules, c.sft.load_in_4bit, c.rehearsal_sft.load_in_4bit) == (("all-linear",), True, True)
    assert (c.tau_lo, c.tau_hi, c.rehearsal_min_correctness, c.rehearsal_min_certainty) == (0.5, 0.5, 0.99, None)
    assert c.keep_zero_flow is True
    assert (s.correctness, s.refusal, s.choice_prompt, s.unparsed, s.mmlu_average) == (
        "substring", "code", "code", "excluded", "macro")
    assert (s.triviaqa_test, s.nq_question_mark, p.n_test) == ("unfiltered_validation", True, None)


def test_cpu_presets_depart_only_where_documented():
    for name in ("tiny", "smoke", "small"):
        p = PRESETS[name]
        assert p.scoring == replace(PRESETS["paper"].scoring, mmlu_average="micro"), name
        assert (p.open.fewshot_multiturn, p.open.query_answer) == (True, "whole")
        assert (p.choice.query_chat_template, p.choice.choice_entropy, p.choice.draw_with_replacement) == (
            True, "renormalized", False)
        assert p.choice.keep_zero_flow is True and not p.open.sft.load_in_4bit


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
    import harness.run.fingerprint as run
    monkeypatch.setattr(run, "BIG", 10)
    f = tmp_path / "big.bin"
    f.write_bytes(b"x" * (20 << 20))
    before = run.fingerprint(f)
    with open(f, "r+b") as h:
        h.seek(-1, 2)
        h.write(b"y")
    assert run.fingerprint(f) != before and before.startswith(f"{20 << 20}:")


def test_one_process_per_run_directory(tmp_path):
    from harness.run.stage import BusyError, run_lock
    with run_lock(tmp_path):
        with pytest.raises(BusyError, match=f"pid {os.getpid()}"):
            with run_lock(tmp_path):
                pass
    with run_lock(tmp_path):                                    # released: usable again
        pass


def test_a_changed_stage_version_reruns_the_stage_and_what_read_it(tmp_path, capsys):
    ran = []

    def a(ctx):
        ran.append("a")
        (ctx.dir / "out.txt").write_text(f"a{len(ran)}")

    def b(ctx):
        ran.append("b")
        (ctx.dir / "out.txt").write_text((ctx.input("x/a") / "out.txt").read_text())

    def c(ctx):                                    # reads nothing: stays done
        ran.append("c")

    make = _ctx_factory(tmp_path)
    run_stages([Stage("x/a", a, 1), Stage("x/b", b, 1, ("x/a",)), Stage("c", c)], make)
    run_stages([Stage("x/a", a, 1), Stage("x/b", b, 1, ("x/a",)), Stage("c", c)], make)
    assert ran == ["a", "b", "c"]                                 # same versions: all skipped
    (tmp_path / "x" / "a" / "stale.txt").write_text("left by version 1")
    run_stages([Stage("x/a", a, 2), Stage("x/b", b, 1, ("x/a",)), Stage("c", c)], make)
    assert ran == ["a", "b", "c", "a", "b"]                       # a's code changed: a and its reader
    assert not (tmp_path / "x" / "a" / "stale.txt").exists()      # rerun from an empty folder
    err = " ".join(capsys.readouterr().err.split())
    assert "code version changed (1 -> 2)" in err and "x/a, which it read, was recomputed" in err
    run_stages([Stage("x/a", a, 2), Stage("x/b", b, 3, ("x/a",)), Stage("c", c)], make)
    assert ran[5:] == ["b"]                                       # only b's code changed
    import json
    done = json.loads((tmp_path / "x" / "b" / "DONE").read_text())
    assert done["version"] == 3 and set(done["inputs"]) == {"x/a"}
