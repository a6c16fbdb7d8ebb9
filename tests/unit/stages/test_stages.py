"""The stages (harness.stages) on a fake engine: what each reads and writes, what it loads, what it says."""
from pathlib import Path

import numpy as np
import pytest
from harness.methods import METHODS

from harness.engines import fake
from harness.knowledge import query as knowledge
from harness.run.config import RunConfig
from harness.run.io import read_json, read_jsonl, write_json, write_jsonl
from harness.run.presets import PRESETS
from harness.run.stage import EnginePool, StageContext
from harness.stages import evaluation as stages_evaluation
from harness.stages import knowledge as stages_knowledge


def _stage_ctx(tmp_path, name):
    from harness.run.config import RunConfig
    from harness.run.presets import PRESETS
    from harness.run.stage import EnginePool, StageContext
    cfg = RunConfig(model="m", preset=PRESETS["tiny"], engine="fake")
    return StageContext(cfg, tmp_path, name, "base", EnginePool("fake"), None)


def _done_rows(path, rows_file, rows):
    from harness.run.io import write_jsonl
    write_jsonl(path / rows_file, rows)
    (path / "DONE").write_text("{}")


def write_json_train(out, rows):
    from harness.run.io import write_json
    write_json(out / "train.json", {"mode": "lora", "examples": len(rows)})


def test_an_empty_training_set_and_a_rehearsal_fallback_are_said_at_run_time_and_recorded(tmp_path, capsys,
                                                                                          monkeypatch):
    import harness.training.sft
    from harness.run.io import read_json
    from harness.stages import knowledge as stages_knowledge
    from harness.stages import training as stages_training
    _done_rows(tmp_path / "open" / "rait" / "build", "sft_data.jsonl", [])
    stages_training.train_stage("rait", "open").run(_stage_ctx(tmp_path, "open/rait/train"))
    assert "constructed training set is empty" in capsys.readouterr().err
    assert read_json(tmp_path / "open" / "rait" / "train" / "train.json")["mode"] == "none"

    monkeypatch.setattr(harness.training.sft, "train", lambda base, rows, sft, out, seed, **kw: write_json_train(out, rows))
    table = [{"id": f"q{i}", "correctness": c, "certainty": 0.5} for i, c in enumerate([1.0, 0.5, 0.0, 0.0])]
    _done_rows(tmp_path / "open" / "query_m0", "knowledge.jsonl", table)
    _done_rows(tmp_path / "open" / "pool", "items.jsonl", [{"id": r["id"], "question": "Q?", "answer": "A"} for r in table])
    stages_knowledge.rehearse_stage("open").run(_stage_ctx(tmp_path, "open/rehearse"))   # tiny: 3 rehearsed
    err = " ".join(capsys.readouterr().err.split())
    assert "only 0 of 3 questions meet mu >= 0.995" in err and "(1 at mu = 0)" in err
    report = read_json(tmp_path / "open" / "rehearse" / "rehearsal.json")
    assert report["fallback"] and report["picked"] == 3 and report["lowest_correctness_picked"] == 0.0


class FakeEncoder:
    def encode(self, texts, **_):
        return np.ones((len(texts), 2))


def _done(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "DONE").write_text("{}")


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    monkeypatch.setattr(knowledge, "load_encoder", lambda: FakeEncoder())
    fake.LOADED.clear()
    items = [{"id": f"q{i}", "question": f"Capital {i}?", "aliases": ["Paris"], "answer": "Paris"}
             for i in range(3)]
    write_jsonl(tmp_path / "open" / "pool" / "items.jsonl", items)
    _done(tmp_path / "open" / "pool")
    cfg = RunConfig(model="base", preset=PRESETS["tiny"])
    return lambda name: StageContext(cfg, tmp_path, name, "/models/base", EnginePool("fake"))


def _trained(run_dir: Path, stage: str, mode: str) -> str:
    write_json(run_dir / stage / "train.json", {"mode": mode})
    (run_dir / stage / "model").mkdir(parents=True)
    _done(run_dir / stage)
    return str(run_dir / stage / "model")


def test_pool_is_the_whole_split_unless_a_size_is_set():
    items = list(range(10))
    assert stages_knowledge.pool_rows(items, None, 0) == items
    assert stages_knowledge.pool_rows(items, 50, 0) == items                  # larger than the split: all of it
    sample = stages_knowledge.pool_rows(items, 4, 0)
    assert len(sample) == 4 and sample == sorted(sample) and sample == stages_knowledge.pool_rows(items, 4, 0)


@pytest.mark.parametrize("mode", ["full", "lora", "none"])
def test_rehearsed_query_loads_what_the_rehearsal_wrote(ctx, mode):
    c = ctx("open/query_rehearsed")
    path = _trained(c.run_dir, "open/rehearse", mode)
    c.dir.mkdir(parents=True)
    stages_knowledge.query_stage("open", rehearsed=True).run(c)
    spec = fake.LOADED[-1]
    expected = {"full": (path, None), "lora": ("/models/base", path), "none": ("/models/base", None)}[mode]
    assert (spec.model, spec.adapter) == expected
    assert (c.dir / "knowledge.jsonl").exists()


@pytest.mark.parametrize("mode", ["full", "lora", "none"])
def test_evaluation_loads_what_the_method_training_wrote(ctx, mode, monkeypatch):
    c = ctx("eval/craft/triviaqa")
    path = _trained(c.run_dir, "open/craft/train", mode)
    write_jsonl(c.run_dir / "tests" / "triviaqa" / "items.jsonl", [])
    _done(c.run_dir / "tests" / "triviaqa")
    monkeypatch.setattr("harness.scoring.evaluate.evaluate", lambda engine, *a, **k: [{"engine": engine.spec.model}])
    c.dir.mkdir(parents=True)
    stages_evaluation.eval_stage("craft", "refuse", "triviaqa", "open/craft/train").run(c)
    spec = fake.LOADED[-1]
    expected = {"full": (path, None), "lora": ("/models/base", path), "none": ("/models/base", None)}[mode]
    assert (spec.model, spec.adapter) == expected


def test_no_engine_is_alive_while_a_model_trains(ctx, monkeypatch):
    c = ctx("open/rehearse")
    write_jsonl(c.run_dir / "open" / "query_m0" / "knowledge.jsonl",
                [{"id": f"q{i}", "correctness": 1.0, "certainty": 1.0} for i in range(3)])
    _done(c.run_dir / "open" / "query_m0")
    c.engine()                                        # the query engine of the previous stage
    assert c.engines.alive
    seen = []

    def train(base, rows, sft, out_dir, **_):
        seen.append(c.engines.alive)
        write_json(Path(out_dir) / "train.json", {"mode": sft.mode})
    monkeypatch.setattr("harness.training.sft.train", train)
    c.dir.mkdir(parents=True)
    stages_knowledge.rehearse_stage("open").run(c)
    assert seen == [False]


def test_build_is_pure_and_crss_is_its_own_stage(ctx):
    """The build stage reads tables and loads no model; CRSS loads M0 in a stage of its own."""
    c = ctx("open/craft/build")
    write_jsonl(c.run_dir / "open" / "query_m0" / "knowledge.jsonl",
                [{"id": f"q{i}", "correctness": 1.0 if i == 0 else 0.2, "certainty": 1.0} for i in range(3)])
    write_jsonl(c.run_dir / "open" / "query_rehearsed" / "knowledge.jsonl",
                [{"id": f"q{i}", "correctness": 0.0, "certainty": 1.0} for i in range(3)])
    for stage in ("open/query_m0", "open/query_rehearsed"):
        _done(c.run_dir / stage)
    craft = METHODS["craft"]
    build, crss = [s for s in craft.stages("open") if s.name in ("open/craft/build", "open/craft/crss")]
    c.dir.mkdir(parents=True)
    build.run(c)
    assert fake.LOADED == [] and not c.engines.alive
    rows = read_jsonl(c.dir / "sft_data.jsonl")
    assert [(r["id"], r["label"]) for r in rows] == [("q0", "vanilla"), ("q1", "idk"), ("q2", "idk")]
    _done(c.dir)
    k = ctx("open/craft/crss")
    k.dir.mkdir(parents=True)
    crss.run(k)
    assert len(fake.LOADED) == 1 and read_json(k.dir / "crss.json")["n_idk"] == 2


class HashEncoder:
    """Embeddings that differ by text, so each question's certainty is its own."""
    def encode(self, texts, **_):
        return np.array([[(hash(t) >> s) % 7 + 1.0 for s in (0, 8, 16)] for t in texts])


@pytest.mark.parametrize("kind", ["open", "choice"])
def test_a_sharded_knowledge_query_joins_to_the_single_stages_rows(tmp_path, monkeypatch, kind):
    """--data-parallel: the pool's 7 questions as 3 slices (2, 2, 3), each its own stage, joined by the
    query stage in pool order, byte for byte what the single stage writes (9 slices: most empty)."""
    from dataclasses import replace
    from harness.run.stage import run_stages
    monkeypatch.setattr(knowledge, "load_encoder", lambda: HashEncoder())
    items = [{"id": f"q{i}", "question": f"Capital {i}?", "aliases": ["Paris"], "answer": "Paris",
              "choices": ["Rome", "Paris", "Oslo", "Bern"], "gold": "B", "subject": "geo"} for i in range(7)]
    preset = replace(PRESETS["tiny"], choice=replace(PRESETS["tiny"].choice, n_shot=0))
    cfg = RunConfig(model="base", preset=preset, engine="fake")

    def query(run_dir, stages):
        write_jsonl(run_dir / kind / "pool" / "items.jsonl", items)
        _done(run_dir / kind / "pool")
        run_stages(stages, lambda name: StageContext(cfg, run_dir, name, "/models/base", EnginePool("fake")))
        return (run_dir / kind / "query_m0" / "knowledge.jsonl").read_bytes()

    single = query(tmp_path / "single", [stages_knowledge.query_stage(kind)])
    rows = read_jsonl(tmp_path / "single" / kind / "query_m0" / "knowledge.jsonl")
    assert [r["id"] for r in rows] == [it["id"] for it in items]
    assert kind == "choice" or len({(r["correctness"], r["certainty"]) for r in rows}) > 2
    for shards in (3, 9):
        parts = stages_knowledge.sharded_query_stages(kind, False, shards)
        assert [p.name for p in parts][-1] == f"{kind}/query_m0" and len(parts) == shards + 1
        assert query(tmp_path / f"sharded{shards}", parts) == single
