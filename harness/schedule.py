"""What a bench runs, before it runs: the checked methods, the stages of every method on every task
under every training seed, the leaderboard labels they give, and the checks that fail now what would
fail hours in (the engine, the model, the data, QLoRA without CUDA)."""
from __future__ import annotations

from typing import Sequence

from harness.engines.models import resolve
from harness.engines.registry import check_engine, engine_entry
from harness.methods import METHODS, method, unsupported
from harness.run import layout
from harness.run.config import RunConfig
from harness.run.stage import Stage
from harness.scoring.evaluate import is_side, task_info
from harness.scoring.metrics import REFERENCE
from harness.stages.confidence import confidence_stage
from harness.stages.evaluation import eval_stage, sharded_eval_stages, test_stage
from harness.stages.knowledge import data_parallel
from harness.stages.training import for_seed


def schedule(methods: list[str], tasks: list[str], seeds: Sequence[int | None] = (None,), shards: int = 1) -> list[Stage]:
    """Tests first, then training per domain (a trained method once per training seed, on the same
    constructed set), then evaluation grouped by model (fewer reloads). `seeds` are label seeds
    (RunConfig.label_seed: None for the data seed); `shards` > 1 splits each knowledge query and
    each evaluation into that many stages of a slice of its questions each, joined in order (data
    parallelism)."""
    kinds = sorted({task_info(t).kind for t in tasks})
    stages = [test_stage(t) for t in tasks]
    for kind in kinds:
        for m in (method(name) for name in methods):
            if not m.runs_on(kind):
                continue
            trained = m.trained_by(kind)
            stages += [part for s in m.stages(kind) if s.name != trained for part in data_parallel(s, shards)]
            stages += [for_seed(s, seed) for s in m.stages(kind) if s.name == trained for seed in seeds]
    for m in (method(name) for name in methods):
        for seed in seeds:
            for t in tasks:
                kind = task_info(t).kind
                if m.runs_on(kind) and (m.trains or seed == seeds[0]):   # an untuned method: one model
                    label = layout.seeded(m.name, seed if m.trains else None)
                    model = layout.seeded(m.trained_by(kind), seed) if m.trains else None
                    stages += [eval_stage(label, m.style, t, model)] if shards == 1 else \
                        sharded_eval_stages(label, m.style, t, model, shards)
                    if m.confidence and not is_side(t):       # R-Tuning's AP, of answerable questions
                        stages.append(confidence_stage(label, t, model))
    return stages


def labels(cfg: RunConfig, m: str, task: str) -> list[str]:
    """The leaderboard labels of a method on a task: one per training seed if it trains, else one
    (none where the method does not run on the task's domain)."""
    if unsupported(m, task_info(task).kind):
        return []
    if not method(m).trains:
        return [m]
    return [layout.seeded(m, cfg.label_seed(s)) for s in cfg.seeds]


def preflight(cfg: RunConfig, methods: list[str], tasks: list[str]) -> None:
    """What would fail hours in fails now: QLoRA (the paper preset's MCQA) without CUDA; training
    under an engine that has no model (the fake engine)."""
    from harness.training.sft import check_quantization
    if not engine_entry(cfg.engine).loads_models:
        trained = [m for m in methods for t in tasks if not unsupported(m, task_info(t).kind) and method(m).trains]
        if trained:
            raise ValueError(f"--engine {cfg.engine} has no model to train, but these methods train one: "
                             f"{', '.join(dict.fromkeys(trained))}; "
                             f"run untuned methods (init-basic, init-refuse) with it, or use --engine hf")
    for kind in sorted({task_info(t).kind for t in tasks}):
        d = cfg.domain(kind)
        check_quantization(d.rehearsal_sft)
        check_quantization(d.sft)
    check_inputs(cfg, methods, tasks)


def data_needs(cfg: RunConfig, methods: list[str], tasks: list[str]) -> list[tuple[str, str]]:
    """(dataset, split) of everything a run reads: test splits, the pools, MCQA shots."""
    from harness.scoring.evaluate import test_split
    needs = [(task_info(t).dataset, test_split(t, cfg.preset.scoring)) for t in tasks]
    for kind in sorted({task_info(t).kind for t in tasks}):
        d = cfg.domain(kind)
        names = {s.name for m in methods if not unsupported(m, kind) for s in method(m).stages(kind)}
        if layout.pool(kind) in names:
            needs.append((d.pool_dataset, d.pool_split))
        if kind == "choice" and d.n_shot and layout.query(kind) in names:
            needs.append(("mmlu", d.shot_split))
    return needs


def generated_data(cfg: RunConfig, methods: list[str], tasks: list[str]) -> dict:
    """What generated questions (the geo tasks) the run reads depend on, for its config.json."""
    from harness.data.load import source
    if not any(source(name).generated for name, _ in data_needs(cfg, methods, tasks)):
        return {}
    from harness.data.geo import provenance
    return {"generated_data": provenance()}


def check_inputs(cfg: RunConfig, methods: list[str], tasks: list[str]) -> None:
    """The engine, the model and the data, checked before the first stage rather than after three."""
    from harness.data.load import check_available
    from harness.run.paths import data_dir
    check_engine(cfg.engine)
    resolve_model(cfg)
    check_available(data_needs(cfg, methods, tasks), data_dir(cfg.data_dir))



def with_reference(methods: list[str]) -> list[str]:
    return [REFERENCE] + [m for m in methods if m != REFERENCE]


ALL = "all"


def checked(methods: list[str], tasks: list[str]) -> list[str]:
    """The methods to run (the reference first); unknown names, and a method asked on a domain its
    paper does not define, fail before anything is written. "all" is every method, each on the tasks
    it runs on."""
    if not tasks or not methods:
        raise ValueError("give at least one method (--methods) and one task (--tasks)")
    for t in tasks:
        task_info(t)
    every = ALL in methods
    methods = with_reference(list(METHODS) if every else methods)
    for m in methods:
        method(m)
    refused = [f"{m} on {t} ({why})" for m in methods for t in tasks
               if (why := unsupported(m, task_info(t).kind))]
    if refused and not every:
        raise ValueError("these methods do not run on these tasks: " + "; ".join(refused)
                         + ". Drop the pair, or use --methods all, which runs each method where it is defined")
    return methods


def resolve_model(cfg: RunConfig) -> str:
    """What the engines load: the resolved hub id or directory; for an engine without a model (the
    fake engine) its script, as given."""
    return resolve(cfg.model) if engine_entry(cfg.engine).loads_models else cfg.model
