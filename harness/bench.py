"""`harness bench`: the stages of every asked method on every asked task, then the leaderboard."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

from harness import layout, pipeline, popularity, side_effects, trainsets
from harness.config import RunConfig
from harness.cost import Work
from harness.evaluate import answer_limit, is_side, task_info
from harness.io import read_json, write_json
from harness.engines.registry import check_engine, engine_entry
from harness.leaderboard import print_table, row, write
from harness.metrics import REFERENCE
from harness.models import resolve
from harness.run import (EnginePool, Stage, StageContext, check_leaderboard_owner, config_hash, console,
                         out_lock, prepare_run_dir, run_lock, run_stages, stale, unique)
from harness.methods import METHODS, method, unsupported
from harness.tasks import expand


def plan(methods: list[str], tasks: list[str], seeds: Sequence[int | None] = (None,)) -> list[Stage]:
    """Tests first, then training per domain (a trained method once per training seed, on the same
    constructed set), then evaluation grouped by model (fewer reloads). `seeds` are label seeds
    (RunConfig.label_seed: None for the data seed)."""
    kinds = sorted({task_info(t).kind for t in tasks})
    stages = [pipeline.test_stage(t) for t in tasks]
    for kind in kinds:
        for m in methods:
            if unsupported(m, kind):
                continue
            own = method(m).stages(kind)
            trained = pipeline.trained_by(own)
            stages += [s for s in own if s.name != trained]
            stages += [pipeline.for_seed(s, seed) for s in own if s.name == trained for seed in seeds]
    for m in methods:
        for seed in seeds:
            for t in tasks:
                if unsupported(m, task_info(t).kind):
                    continue
                trained = pipeline.trained_by(method(m).stages(task_info(t).kind))
                if trained or seed == seeds[0]:      # an untuned method has one model, not one a seed
                    label = layout.seeded(m, seed if trained else None)
                    model = layout.seeded(trained, seed) if trained else None
                    stages.append(pipeline.eval_stage(label, method(m).STYLE, t, model))
                    if getattr(method(m), "CONFIDENCE", False):     # R-Tuning's AP
                        stages.append(pipeline.confidence_stage(label, t, model))
    return stages


def labels(cfg: RunConfig, m: str, task: str) -> list[str]:
    """The leaderboard labels of a method on a task: one per training seed if it trains, else one
    (none where the method does not run on the task's domain)."""
    if unsupported(m, task_info(task).kind):
        return []
    if pipeline.trained_by(method(m).stages(task_info(task).kind)) is None:
        return [m]
    return [layout.seeded(m, cfg.label_seed(s)) for s in cfg.seeds]


def preflight(cfg: RunConfig, methods: list[str], tasks: list[str]) -> None:
    """What would fail hours in fails now: QLoRA (the paper preset's MCQA) without CUDA; training
    under an engine that has no model (the fake engine)."""
    from harness.sft import check_quantization
    if not engine_entry(cfg.engine).loads_models:
        trained = [m for m in methods for t in tasks if not unsupported(m, task_info(t).kind)
                   and pipeline.trained_by(method(m).stages(task_info(t).kind))]
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
    from harness.evaluate import test_split
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
    from harness.data import source
    if not any(source(name).generated for name, _ in data_needs(cfg, methods, tasks)):
        return {}
    from harness.geo import provenance
    return {"generated_data": provenance()}


def check_inputs(cfg: RunConfig, methods: list[str], tasks: list[str]) -> None:
    """The engine, the model and the data, checked before the first stage rather than after three."""
    from harness.data import check_available
    from harness.paths import data_dir
    check_engine(cfg.engine)
    resolve_model(cfg)
    check_available(data_needs(cfg, methods, tasks), data_dir(cfg.data_dir))


def prompt_style(cfg: RunConfig, base: str) -> str | None:
    """The style prompts will have (chat or completion) for this model; a warning when auto falls back
    to completion because the model has no chat template, an error when chat was asked of such a model."""
    from harness.prompts import resolved_style
    if not engine_entry(cfg.engine).loads_models:
        return None if cfg.prompt_style == "auto" else cfg.prompt_style
    from transformers import AutoTokenizer
    style = resolved_style(AutoTokenizer.from_pretrained(base, trust_remote_code=cfg.trust_remote_code),
                           cfg.prompt_style)
    if cfg.prompt_style == "auto" and style == "completion":
        console.print(f"[yellow]warning: {cfg.model} has no chat template (a base model?): prompts use the completion "
                      "style 'Question: ...\nAnswer:'; pass --prompt-style to choose[/yellow]")
    return style


def busy_warning(samples: list[int] | None = None) -> str | None:
    """A warning when other processes already keep the CPU busy (a second heavy process made one SFT
    35x slower on 2 cores): the median number of other runnable tasks over half a second, from
    /proc/loadavg, against the cores."""
    import os
    import statistics
    import time
    if samples is None:
        samples = []
        try:
            for _ in range(5):
                running = int(open("/proc/loadavg").read().split()[3].split("/")[0])
                samples.append(running - 1)            # this process is one of them
                time.sleep(0.1)
        except (OSError, ValueError, IndexError):
            return None
    cores = os.cpu_count() or 1
    others = statistics.median(samples)
    if others >= max(1, cores / 4):
        return (f"the machine is busy: ~{others:g} other runnable processes on {cores} cores; a heavy one "
                f"slows generation and SFT many times over (stop it, or expect the times to stretch)")
    return None

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


def bench(cfg: RunConfig, methods: list[str], tasks: list[str], out: Path,
          overwrite: bool = False, table: bool = True) -> list[dict]:
    """Run every stage and return the leaderboard rows of the CRaFT tasks; with `table` (the CLI) also
    write OUT/leaderboard.*, OUT/training_sets.json (harness.trainsets) and, for side-effect tasks,
    OUT/side_effects.* (checked and written under OUT's lock) and print the tables. (harness.api.side_effects reads a run's side-effect rows.)"""
    tasks = expand(tasks)
    methods = checked(methods, tasks)
    preflight(cfg, methods, tasks)
    base = resolve_model(cfg)
    style = prompt_style(cfg, base)
    if table:
        check_leaderboard_owner(out, config_hash(cfg), overwrite)     # early: before hours of work
    busy = busy_warning()
    if busy:
        console.print(f"[yellow]warning: {busy}[/yellow]")
    slow = cpu_warning(cfg, methods, tasks, out)
    if slow:
        console.print(f"[yellow]warning: {slow}[/yellow]")
    meta = {"prompt_style": style, **({"model_name": cfg.model_name} if cfg.model_name else {}),
            **generated_data(cfg, methods, tasks)}
    run_dir = prepare_run_dir(cfg, out, meta)
    console.print(f"run directory: {run_dir}")
    engines = EnginePool(cfg.engine)
    cache = out / "cache" if cfg.cache else None
    with run_lock(run_dir):
        try:
            times = run_stages(plan(methods, tasks, [cfg.label_seed(s) for s in cfg.seeds]),
                               lambda name: StageContext(cfg, run_dir, name, base, engines, cache))
        finally:
            engines.close()
        # stages this invocation ran replace their old figures; the others keep theirs
        previous = read_json(run_dir / layout.TIMINGS) if (run_dir / layout.TIMINGS).exists() else {}
        write_json(run_dir / layout.TIMINGS, {**previous, **times})
        if cache:
            stats = engines.cache_stats
            corrupt = f", {stats['corrupt']} corrupt entries recomputed" if stats["corrupt"] else ""
            console.print(f"generation cache: {stats['hits']} prompts reused, {stats['misses']} generated"
                          f"{corrupt} ({cache / 'generations.sqlite'})")
    rows = [row(run_dir, cfg.label, cfg.preset.name, label, t, task_info(t).kind, REFERENCE)
            for t in tasks if not is_side(t) for m in methods for label in labels(cfg, m, t)]
    if not table:
        return rows
    board = run_rows(run_dir, cfg, rows)          # OUT's table: the whole run; returned: this invocation's
    side = side_effects.rows(run_dir, cfg.label, cfg.preset.name,
                             {t: [lab for m in methods for lab in labels(cfg, m, t)] for t in tasks if is_side(t)})
    with out_lock(out):
        # again under the lock: another config's bench may have written the table since we started
        try:
            check_leaderboard_owner(out, config_hash(cfg), overwrite)
        except ValueError as err:
            raise ValueError(f"{err}. This run's results are kept in {run_dir}: publish them with "
                             f"`harness leaderboard publish {run_dir} --out DIR`") from None
        pop = popularity.rows(run_dir, board)
        if board or not side:
            write(board, out)
            trained = list(dict.fromkeys(layout.parse_label(r["method"])[0] for r in board))
            trainsets.write(trainsets.rows(run_dir, cfg.label, cfg.preset.name, trained), out)
            if pop:
                popularity.write(pop, out)
        if side:
            side_effects.write(side, out)
    if board:
        print_table(board)
    if pop:
        popularity.print_table(pop)
    if side:
        side_effects.print_table(side)
    return rows


def run_rows(run_dir: Path, cfg: RunConfig, rows: list[dict]) -> list[dict]:
    """OUT's table: every (method, task) the run directory has records for, this invocation's and the
    earlier ones' (adding a method to a finished run keeps the others in the table), in publish order;
    this invocation's rows alone, in their order, when the run has no others."""
    from harness.publish import discover
    ours = {(r["method"], r["task"]): r for r in rows}
    pairs = [(label, t) for label, t in discover(run_dir) if not is_side(t)]
    if set(pairs) <= set(ours):
        return rows
    return [ours.get((lab, t)) or row(run_dir, cfg.label, cfg.preset.name, lab, t, task_info(t).kind, REFERENCE)
            for lab, t in pairs]


# ---------------------------------------------------------------- --dry-run: the plan, nothing heavy

def sequences(rows: int, sft, est_tokens: float) -> int:
    """Training sequences of one SFT stage: the rows, or with packing an estimate from the tokens
    (about 4 characters a token)."""
    import math
    if sft.packing:
        return max(1, math.ceil(rows * est_tokens / sft.max_length)) if rows else 0
    return rows


def optimizer_steps(rows: int, sft, est_tokens: float = 64.0) -> int:
    """Optimizer steps of one SFT stage: epochs x ceil(sequences / global batch)."""
    import math
    return sft.epochs * math.ceil(sequences(rows, sft, est_tokens) / (sft.batch_size * sft.grad_accum))


def _steps(rows: int, sft, est_tokens: float) -> str:
    steps = optimizer_steps(rows, sft, est_tokens)
    if sft.packing:
        return f"~{steps} (~{sequences(rows, sft, est_tokens)} packed sequences of {sft.max_length} tokens)"
    return str(steps)


def _mean_tokens(items: list[dict]) -> float:
    from harness.prompts import question_text
    texts = [question_text(it, "refuse") + str(it.get("answer", "")) for it in items[:2000]]
    return sum(len(t) for t in texts) / max(1, len(texts)) / 4 + 30      # + chat-template tokens


def _domain_plan(cfg: RunConfig, kind: str, methods: list[str], run_dir: Path, works: list) -> list[str]:
    from harness.data import load_items
    from harness.paths import data_dir
    d = cfg.domain(kind)
    items = load_items(d.pool_dataset, d.pool_split, data_dir(cfg.data_dir))
    pool = len(pipeline.pool_rows(items, d.pool_size, cfg.seed))
    methods = [m for m in methods if not unsupported(m, kind)]
    names = {s.name for m in methods for s in method(m).stages(kind)}
    est = _mean_tokens(items)
    work = (f"{pool} x {d.n_samples} samples at T={d.temperature}, up to {d.query_max_new_tokens} tokens"
            if kind == "open" else f"{pool} forward passes, {d.n_shot}-shot"
            f"{'' if d.query_chat_template else ', no chat template'}")
    lines = [f"{kind}: pool {pool} of {len(items)} {d.pool_dataset}/{d.pool_split} questions"]
    query = (Work(f"{kind} knowledge query", "generate", pool * d.n_samples, est, d.query_max_new_tokens)
             if kind == "open" else Work(f"{kind} knowledge query", "score", pool * 4, est + 200 * d.n_shot))

    def training(stage: str, rows: int, sft) -> Work:
        return Work(stage, "train", sequences(rows, sft, est), sft.max_length if sft.packing else est,
                    epochs=sft.epochs, full=sft.mode == "full", four_bit=sft.load_in_4bit, micro_batch=sft.batch_size)
    if layout.query(kind) in names:
        lines.append(f"  knowledge query of M0: {work}")
        works.append(query)
    if layout.query(kind, rehearsed=True) in names:
        rows = min(d.rehearsal_size, pool)
        r = d.rehearsal_sft
        lines.append(f"  rehearsal SFT ({r.mode}{', 4-bit' if r.load_in_4bit else ''}, lr {r.lr:g}): {rows} rows, "
                     f"{_steps(rows, r, est)} optimizer steps")
        lines.append(f"  knowledge query of the rehearsed model: {work}")
        works += [training(f"{kind} rehearsal SFT", rows, r), replace(query, stage=f"{kind} rehearsed query")]
    for m in methods:
        if pipeline.trained_by(method(m).stages(kind)) is None:
            continue
        manifest = layout.build_manifest(run_dir, kind, m)
        if manifest.exists():
            man = read_json(manifest)
            rows, note = man["n_vanilla"] + man["n_idk"], "built"
        else:
            rows, note = d.n_van + d.n_idk, "asked; the build may fall short"
        lines.append(f"  {m} SFT ({d.sft.mode}{', 4-bit' if d.sft.load_in_4bit else ''}, lr {d.sft.lr:g}): "
                     f"{rows} rows ({note}), {_steps(rows, d.sft, est)} optimizer steps"
                     + (f", x {len(cfg.seeds)} training seeds" if len(cfg.seeds) > 1 else ""))
        works += [training(f"{kind} {m} SFT", rows, d.sft)] * len(cfg.seeds)
    return lines


def _done(run_dir: Path, stage: Stage) -> bool:
    return (run_dir / stage.name / layout.DONE).exists() and not stale(run_dir, stage.name, stage.version)


def dry_run(cfg: RunConfig, methods: list[str], tasks: list[str], out: Path, works: list | None = None) -> list[str]:
    """What `bench` would do, without loading a model: stages (done or to run), questions to query and
    samples to draw per domain, SFT rows and optimizer steps per training stage, test questions."""
    from harness.data import load_rows
    from harness.evaluate import test_split
    from harness.paths import data_dir
    tasks = expand(tasks)
    methods = checked(methods, tasks)
    run_dir = layout.run_dir(out, config_hash(cfg))
    stages = unique(plan(methods, tasks, [cfg.label_seed(s) for s in cfg.seeds]))
    lines = [f"dry run: {cfg.preset.name} preset, model {cfg.model}, engine {cfg.engine}, data seed {cfg.seed}, "
             f"training seeds {','.join(map(str, cfg.seeds))}",
             f"run directory: {run_dir}{'' if run_dir.exists() else ' (new)'}",
             f"stages ({len(stages)}):"]
    lines += [f"  [{'done' if _done(run_dir, s) else 'run '}] {s.name}" for s in stages]
    works = [] if works is None else works
    for kind in sorted({task_info(t).kind for t in tasks}):
        lines += _domain_plan(cfg, kind, methods, run_dir, works)
    try:
        preflight(cfg, methods, tasks)
    except (ValueError, FileNotFoundError) as err:
        lines.append(f"warning: the run would stop before its first stage: {err}")
    lines.append("test questions:")
    for t in tasks:
        info, split = task_info(t), test_split(t, cfg.preset.scoring)
        total = len(load_rows(info.dataset, split, data_dir(cfg.data_dir)))
        n = total if cfg.test_size(t) is None else min(cfg.test_size(t), total)
        lines.append(f"  {t}: {n} of {total} ({info.dataset}/{split}) x {len(methods)} methods, greedy")
        works.append(Work(f"evaluation {t}", "generate", n * len(methods), 120, answer_limit(t, cfg.preset)))
    lines += _cost(cfg, works)
    return lines


def _shape(cfg: RunConfig):
    """The model's shape for the cost estimate: its local config.json, else the table of known hub ids."""
    from harness import cost
    try:
        local = resolve(cfg.model) if not ("/" in cfg.model and not Path(cfg.model).exists()) else None
    except ValueError:
        local = None
    return cost.shape_of(cfg.model, local) or cost.shape_of(cost_alias(cfg.model))


def _cost(cfg: RunConfig, works: list) -> list[str]:
    """The roofline cost of the works (harness.cost) on an H100, and on this machine's CPUs."""
    from harness import cost
    shape = _shape(cfg)
    if shape is None:
        return [f"cost estimate: the size of {cfg.model} is unknown offline (no local config.json; known hub ids: "
                f"{', '.join(cost.SHAPES)})"]
    return cost.report(works, shape)


def cpu_warning(cfg: RunConfig, methods: list[str], tasks: list[str], out: Path) -> str | None:
    """On a machine without a GPU, what the run's roofline says it would take, when over a day."""
    import torch
    if torch.cuda.is_available() or cfg.engine == "fake":
        return None
    from harness import cost
    shape = _shape(cfg)
    works: list = []
    try:
        if shape is not None:
            dry_run(cfg, methods, tasks, out, works)
    except Exception:         # noqa: BLE001 (a warning must never stop a run; the stages report real errors)
        return None
    days = sum(cost.cpu_seconds(w, shape) for w in works) / 86400
    return (f"no GPU here, and this run would take ~{days:.0f} days on these CPUs (harness bench --dry-run "
            "prints the estimate per stage)") if days > 1 else None


def cost_alias(model: str) -> str:
    from harness.models import MODELS
    return MODELS[model].hub_id if model in MODELS else model
