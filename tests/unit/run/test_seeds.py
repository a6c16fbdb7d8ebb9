"""Training seeds apart from the data seed: labels, the stages a seeded bench runs, the seed that
reaches the trainer, pooled paired differences and the across-seed summary on the published page."""
import json
import random
import statistics

import pytest
from support.synthetic import base_classes, write_records

from harness.run import layout
from harness.run.config import RunConfig
from harness.run.io import read_json, write_json, write_jsonl
from harness.run.presets import PRESETS
from harness.run.stage import EnginePool, StageContext, config_hash
from harness.schedule import schedule as plan
from harness.scoring.stats import paired_differences, pooled_differences
from harness.stages import training as stages_training


def test_labels_round_trip_and_malformed_labels_are_named():
    assert layout.seeded("craft", None) == "craft" and layout.seeded("craft", 2) == "craft@seed2"
    assert layout.parse_label("craft@seed2") == ("craft", 2) and layout.parse_label("craft") == ("craft", None)
    assert layout.train("open", "rait", 1) == "open/rait/train@seed1"
    with pytest.raises(ValueError, match="malformed method label 'craft@seedx'"):
        layout.parse_label("craft@seedx")


def test_training_seeds_are_not_the_run_identity_and_are_checked():
    base = RunConfig(model="m", preset=PRESETS["tiny"])
    seeded = RunConfig(model="m", preset=PRESETS["tiny"], train_seeds=(0, 1, 2))
    assert config_hash(base) == config_hash(seeded)              # same data: the same run directory
    assert base.seeds == (0,) and seeded.seeds == (0, 1, 2)
    assert [seeded.label_seed(s) for s in seeded.seeds] == [None, 1, 2]
    assert config_hash(RunConfig(model="m", preset=PRESETS["tiny"], seed=1)) != config_hash(base)
    with pytest.raises(ValueError, match="distinct"):
        RunConfig(model="m", preset=PRESETS["tiny"], train_seeds=(1, 1))


def test_cli_rejects_malformed_seeds(capsys):
    from harness.cli import main
    assert main(["bench", "--seeds", "0,x", "--dry-run"]) != 0
    assert "--seeds must be comma-separated non-negative integers" in capsys.readouterr().err


def test_a_seeded_bench_builds_once_trains_each_seed_and_evaluates_untuned_methods_once():
    names = [s.name for s in plan(["craft", "init-refuse"], ["triviaqa"], [None, 1, 2])]
    assert names.count("open/craft/build") == 1 and names.count("open/craft/crss") == 1
    assert names.count("open/rehearse") == 1
    assert [n for n in names if "/train" in n] == ["open/craft/train", "open/craft/train@seed1",
                                                   "open/craft/train@seed2"]
    assert [n for n in names if n.startswith("eval/")] == [
        "eval/craft/triviaqa", "eval/craft@seed1/triviaqa", "eval/craft@seed2/triviaqa", "eval/init-refuse/triviaqa"]


def _ctx(tmp_path, name, train_seed=None, seed=7):
    cfg = RunConfig(model="m", preset=PRESETS["tiny"], seed=seed, engine="fake")
    return StageContext(cfg, tmp_path, name, "base", EnginePool("fake"), None, train_seed=train_seed)


def test_the_training_seed_reaches_the_trainer_and_the_rehearsal_keeps_the_data_seed(tmp_path, monkeypatch):
    import harness.training.sft
    seen = []

    def fake_train(base, rows, sft, out, seed, **kw):
        seen.append((out.relative_to(tmp_path).as_posix(), seed))
        write_json(out / "train.json", {"mode": "lora", "examples": len(rows)})
    monkeypatch.setattr(harness.training.sft, "train", fake_train)
    build = tmp_path / "open" / "rait" / "build"
    write_jsonl(build / "sft_data.jsonl", [{"id": "q", "label": "idk", "prompt": "Q?", "target": "I don't know"}])
    (build / "DONE").write_text("{}")
    stage = stages_training.for_seed(stages_training.train_stage("rait", "open"), 3)
    assert stage.name == "open/rait/train@seed3"
    ctx = _ctx(tmp_path, stage.name)
    stage.run(ctx)
    assert "open/rait/build" in ctx.inputs                       # the wrapper shares what DONE records
    stages_training.train_stage("rait", "open").run(_ctx(tmp_path, "open/rait/train"))
    stages_training.train(_ctx(tmp_path, "open/rehearse", train_seed=3), "open", [{"prompt": "Q?", "target": "A"}],
                    rehearsal=True)
    assert seen == [("open/rait/train@seed3", 3), ("open/rait/train", 7), ("open/rehearse", 7)]


def _runs(rng, n=60, k=3):
    base = base_classes(n, rng)
    ids = [{"id": f"q{i}"} for i in range(n)]

    def run():
        return [{**ids[i], "class": rng.choice(["correct", "wrong", "refused"])} for i in range(n)]
    return [{**ids[i], "class": c} for i, c in enumerate(base)], [run() for _ in range(k)], [run() for _ in range(k)]


def test_pooled_differences_of_one_seed_are_the_paired_bootstrap():
    base, a, b = _runs(random.Random(0))
    assert pooled_differences(a[:1], b[:1], base, n_resamples=100) == paired_differences(a[0], b[0], base, n_resamples=100)


def test_pooled_differences_pool_the_seeds_and_resample_questions():
    base, a, b = _runs(random.Random(1))
    pooled = pooled_differences(a, b, base, ("pc", "ths"), n_resamples=300)
    per_seed = [paired_differences(x, y, base, ("pc",), n_resamples=10)["pc"]["diff"] for x, y in zip(a, b)]
    assert pooled["pc"]["diff"] == pytest.approx(statistics.fmean(per_seed))   # Pc is a mean: pooled = mean
    assert pooled["pc"]["lo"] < pooled["pc"]["diff"] < pooled["pc"]["hi"]
    with pytest.raises(ValueError, match="pair each run"):
        pooled_differences(a, b[:2], base)
    with pytest.raises(ValueError, match="same questions"):
        pooled_differences(a, [b[0], b[1], b[2][:-1]], base)


def _seeded_run(root, n=40):
    """A run with init-basic, and rait and craft under training seeds 0 (the data seed) and 1."""
    rng = random.Random(5)
    run_dir = root / "runs" / "bbbbbbbbbbbb"
    write_json(run_dir / "config.json", {"hash": "bbbbbbbbbbbb", "harness": "x", "git_sha": "0" * 10,
                                         "config": {"model": "tiny", "preset": {"name": "smoke"}, "seed": 0}})
    write_records(run_dir, "init-basic", "triviaqa", base_classes(n, rng))
    for m in ("rait", "craft"):
        for seed in (None, 1):
            label = layout.seeded(m, seed)
            write_records(run_dir, label, "triviaqa", rng.choices(["correct", "wrong", "refused"], k=n))
            write_json(run_dir / layout.train("open", m, seed) / "train.json", {"mode": "lora", "examples": 5})
    return run_dir


def test_published_rows_carry_the_seed_and_the_page_summarises_across_seeds(tmp_path):
    from harness.reporting.publish import publish
    run_dir = _seeded_run(tmp_path)
    rows = publish([run_dir], tmp_path / "pub", n_resamples=50)
    assert [(r["method"], r["seed"]) for r in rows] == [
        ("init-basic", None), ("rait", 0), ("rait@seed1", 1), ("craft", 0), ("craft@seed1", 1)]
    summary = json.loads((tmp_path / "pub" / "seeds.json").read_text())
    craft = next(s for s in summary if s["method"] == "craft")
    ths = [r["ths"] for r in rows if r["method"].startswith("craft")]
    assert craft["seeds"] == 2 and craft["ths_mean"] == pytest.approx(statistics.fmean(ths))
    assert craft["ths_sd"] == pytest.approx(statistics.stdev(ths)) and craft["ths_min"] == min(ths)
    comps = read_json(tmp_path / "pub" / "comparisons.json")
    pairs = [(c["method"], c["reference"], c["seeds"]) for c in comps]
    assert pairs == [("craft", "rait", 1), ("craft@seed1", "rait@seed1", 1), ("craft (2 seeds)", "rait (2 seeds)", 2),
                     ("rait", "craft", 1), ("rait@seed1", "craft@seed1", 1), ("rait (2 seeds)", "craft (2 seeds)", 2)]
    diffs = [c["ths_diff"] for c in comps[:2]]
    assert comps[2]["ths_seed_sd"] == pytest.approx(statistics.stdev(diffs))
    md = (tmp_path / "pub" / "leaderboard.md").read_text()
    assert "Across training seeds" in md and "| craft | 2 | " in md and "seed sd" in md
    assert "| model | method | seed |" in md
    page = (tmp_path / "pub" / "index.html").read_text()
    assert '<table class="seeds">' in page and "craft (2 seeds)" in page


def test_a_pooled_comparison_of_an_untrained_method_is_flagged(tmp_path):
    from harness.reporting.leaderboard import compare_flags
    from harness.reporting.publish import publish
    run_dir = _seeded_run(tmp_path)
    for seed in (None, 1):                      # one constructed set: empty for every seed
        write_json(run_dir / layout.train("open", "craft", seed) / "train.json", {"mode": "none", "examples": 0})
    rows = publish([run_dir], tmp_path / "pub", n_resamples=20)
    comps = read_json(tmp_path / "pub" / "comparisons.json")
    pooled = next(c for c in comps if c["method"] == "rait (2 seeds)")
    assert compare_flags(pooled, rows) == "UNTRAINED: craft (2 seeds)"
