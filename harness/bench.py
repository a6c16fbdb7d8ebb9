"""`harness bench`: the stages of every asked method on every asked task, then the leaderboard."""
from __future__ import annotations

from pathlib import Path

from harness.dryrun import cpu_warning
from harness.engines.registry import engine_entry
from harness.executors import Executor, Job, drive
from harness.reporting import popularity, trainsets
from harness.reporting.leaderboard import print_table, row, write
from harness.run import layout
from harness.run.config import RunConfig
from harness.run.io import read_json, write_json
from harness.run.stage import (EnginePool, Stage, StageContext, check_leaderboard_owner, config_hash, console,
                               out_lock, prepare_run_dir, run_lock, run_stages, unique)
from harness.schedule import checked, generated_data, labels, preflight, resolve_model, schedule
from harness.scoring import side_effects
from harness.scoring.evaluate import is_side, task_info
from harness.scoring.metrics import REFERENCE
from harness.tasks import expand


def prompt_style(cfg: RunConfig, base: str) -> str | None:
    """The style prompts will have (chat or completion) for this model; a warning when auto falls back
    to completion because the model has no chat template, an error when chat was asked of such a model."""
    from harness.data.prompts import resolved_style
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
    """A warning when other processes already keep the CPU busy (they slow generation and SFT many times
    over: docs/performance.md): the median number of other runnable tasks over half a second, from
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


def bench(cfg: RunConfig, methods: list[str], tasks: list[str], out: Path,
          overwrite: bool = False, table: bool = True, executor: Executor = Executor()) -> list[dict]:
    """Run every stage and return the leaderboard rows of the CRaFT tasks; with `table` (the CLI) also
    write OUT's tables (write_tables) and print them. (harness.api.side_effects reads a run's
    side-effect rows.)"""
    tasks = expand(tasks)
    methods = checked(methods, tasks)
    preflight(cfg, methods, tasks)
    base = resolve_model(cfg)
    style = prompt_style(cfg, base)
    if table:
        check_leaderboard_owner(out, config_hash(cfg), overwrite)     # early: before hours of work
    for warning in (busy_warning(), cpu_warning(cfg, methods, tasks, out)):
        if warning:
            console.print(f"[yellow]warning: {warning}[/yellow]")
    meta = {"prompt_style": style, **({"model_name": cfg.model_name} if cfg.model_name else {}),
            **generated_data(cfg, methods, tasks)}
    run_dir = prepare_run_dir(cfg, out, meta)
    console.print(f"run directory: {run_dir}")
    seeds = [cfg.label_seed(s) for s in cfg.seeds]
    job = Job(cfg, tuple(methods), tuple(tasks), tuple(seeds), str(run_dir), base,
              str(out / layout.CACHE) if cfg.cache else None, shards=executor.shards)
    run(job, schedule(methods, tasks, seeds, executor.shards), executor)
    rows = [row(run_dir, cfg.label, cfg.preset.name, label, t, task_info(t).kind, REFERENCE)
            for t in tasks if not is_side(t) for m in methods for label in labels(cfg, m, t)]
    if table:
        write_tables(cfg, run_dir, out, overwrite, rows,
                     {t: [lab for m in methods for lab in labels(cfg, m, t)] for t in tasks if is_side(t)})
    return rows


def run(job: Job, stages: list[Stage], executor: Executor) -> None:
    """The stages not yet DONE, under the run's lock, by the executor; their timings merged into
    timings.json."""
    cfg, run_dir, base = job.cfg, Path(job.run_dir), job.base
    engines = EnginePool(cfg.engine)
    cache = Path(job.cache) if job.cache else None
    with run_lock(run_dir):
        try:
            if executor.name == "local":
                times = run_stages(stages, lambda name: StageContext(cfg, run_dir, name, base, engines, cache))
            else:
                times = drive(unique(stages), job, executor.backend(run_dir))
        finally:
            engines.close()
        # stages this invocation ran replace their old figures; the others keep theirs
        previous = read_json(run_dir / layout.TIMINGS) if (run_dir / layout.TIMINGS).exists() else {}
        write_json(run_dir / layout.TIMINGS, {**previous, **times})
    if cache and executor.name == "local":
        stats = engines.cache_stats
        corrupt = f", {stats['corrupt']} corrupt entries recomputed" if stats["corrupt"] else ""
        console.print(f"generation cache: {stats['hits']} prompts reused, {stats['misses']} generated"
                      f"{corrupt} ({cache / layout.GENERATIONS})")


def write_tables(cfg: RunConfig, run_dir: Path, out: Path, overwrite: bool, rows: list[dict],
                 side_labels: dict[str, list[str]]) -> None:
    """OUT/leaderboard.* (the whole run's table), OUT/training_sets.json, OUT/popularity.* for the
    geo tasks and OUT/side_effects.* for the side-effect tasks, checked and written under OUT's lock,
    then printed."""
    board = run_rows(run_dir, cfg, rows)          # OUT's table: the whole run; returned: this invocation's
    side = side_effects.rows(run_dir, cfg.label, cfg.preset.name, side_labels)
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


def run_rows(run_dir: Path, cfg: RunConfig, rows: list[dict]) -> list[dict]:
    """OUT's table: every (method, task) the run directory has records for, this invocation's and the
    earlier ones' (adding a method to a finished run keeps the others in the table), in publish order;
    this invocation's rows alone, in their order, when the run has no others."""
    from harness.reporting.publish import discover
    ours = {(r["method"], r["task"]): r for r in rows}
    pairs = [(label, t) for label, t in discover(run_dir) if not is_side(t)]
    if set(pairs) <= set(ours):
        return rows
    return [ours.get((lab, t)) or row(run_dir, cfg.label, cfg.preset.name, lab, t, task_info(t).kind, REFERENCE)
            for lab, t in pairs]


