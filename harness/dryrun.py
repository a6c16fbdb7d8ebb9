"""`harness bench --dry-run`: what a bench would do, without loading a model (stages done or to run,
queries, SFT rows and optimizer steps, test questions), and what it would cost (harness.run.cost)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness.engines.models import resolve
from harness.methods import method, unsupported
from harness.run import layout
from harness.run.config import RunConfig
from harness.run.cost import Work
from harness.run.io import read_json
from harness.run.stage import Stage, config_hash, stale, unique
from harness.schedule import checked, preflight, schedule
from harness.scoring.evaluate import answer_limit, task_info
from harness.stages.knowledge import pool_rows
from harness.tasks import expand


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
    from harness.data.prompts import question_text
    texts = [question_text(it, "refuse") + str(it.get("answer", "")) for it in items[:2000]]
    return sum(len(t) for t in texts) / max(1, len(texts)) / 4 + 30      # + chat-template tokens


def _domain_plan(cfg: RunConfig, kind: str, methods: list[str], run_dir: Path, works: list,
                 by_stage: dict) -> list[str]:
    from harness.data.load import load_items
    from harness.run.paths import data_dir
    d = cfg.domain(kind)
    items = load_items(d.pool_dataset, d.pool_split, data_dir(cfg.data_dir))
    pool = len(pool_rows(items, d.pool_size, cfg.seed))
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
        by_stage[layout.query(kind)] = query
    if layout.query(kind, rehearsed=True) in names:
        rows = min(d.rehearsal_size, pool)
        r = d.rehearsal_sft
        lines.append(f"  rehearsal SFT ({r.mode}{', 4-bit' if r.load_in_4bit else ''}, lr {r.lr:g}): {rows} rows, "
                     f"{_steps(rows, r, est)} optimizer steps")
        lines.append(f"  knowledge query of the rehearsed model: {work}")
        works += [training(f"{kind} rehearsal SFT", rows, r), replace(query, stage=f"{kind} rehearsed query")]
        by_stage[layout.rehearse(kind)], by_stage[layout.query(kind, True)] = works[-2:]
    for m in methods:
        if not method(m).trains:
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
        for s in cfg.seeds:
            for stage in method(m).training(kind):     # a preference stage costs about its SFT again
                by_stage[layout.seeded(stage.name, cfg.label_seed(s))] = works[-1]
    return lines


def _done(run_dir: Path, stage: Stage) -> bool:
    return (run_dir / stage.name / layout.DONE).exists() and not stale(run_dir, stage.name, stage.version)


def dry_run(cfg: RunConfig, methods: list[str], tasks: list[str], out: Path, works: list | None = None,
            workers: int = 1) -> list[str]:
    """What `bench` would do, without loading a model: stages (done or to run), questions to query and
    samples to draw per domain, SFT rows and optimizer steps per training stage, test questions."""
    from harness.data.load import load_rows
    from harness.scoring.evaluate import test_split
    from harness.run.paths import data_dir
    tasks = expand(tasks)
    methods = checked(methods, tasks)
    run_dir = layout.run_dir(out, config_hash(cfg))
    stages = unique(schedule(methods, tasks, [cfg.label_seed(s) for s in cfg.seeds]))
    lines = [f"dry run: {cfg.preset.name} preset, model {cfg.model}, engine {cfg.engine}, data seed {cfg.seed}, "
             f"training seeds {','.join(map(str, cfg.seeds))}",
             f"run directory: {run_dir}{'' if run_dir.exists() else ' (new)'}",
             f"stages ({len(stages)}):"]
    lines += [f"  [{'done' if _done(run_dir, s) else 'run '}] {s.name}" + (f" <- {', '.join(s.inputs)}" if s.inputs else "")
              for s in stages]
    works = [] if works is None else works
    by_stage: dict = {}
    for kind in sorted({task_info(t).kind for t in tasks}):
        lines += _domain_plan(cfg, kind, methods, run_dir, works, by_stage)
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
        for s in stages:
            if s.name.startswith("eval/") and s.name.endswith(f"/{t}"):
                by_stage[s.name] = Work(s.name, "generate", n, 120, answer_limit(t, cfg.preset))
    lines += _cost(cfg, works)
    shape = _shape(cfg)
    if workers > 1 and shape is not None:
        from harness.run import cost, graph
        seconds = {name: cost.gpu_seconds(w, shape, cost.DEVICES["H100"]) for name, w in by_stage.items()}
        lines += graph.schedule_lines(stages, seconds, workers, "H100 roofline, one GPU a stage")
    return lines


def _shape(cfg: RunConfig):
    """The model's shape for the cost estimate: its local config.json, else the table of known hub ids."""
    from harness.run import cost
    try:
        local = resolve(cfg.model) if not ("/" in cfg.model and not Path(cfg.model).exists()) else None
    except ValueError:
        local = None
    return cost.shape_of(cfg.model, local) or cost.shape_of(cost_alias(cfg.model))


def _cost(cfg: RunConfig, works: list) -> list[str]:
    """The roofline cost of the works (harness.run.cost) on an H100, and on this machine's CPUs."""
    from harness.run import cost
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
    from harness.run import cost
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
    from harness.engines.models import MODELS
    return MODELS[model].hub_id if model in MODELS else model
