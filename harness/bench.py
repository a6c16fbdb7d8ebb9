"""`harness bench`: the stages of every asked method on every asked task, then the leaderboard."""
from __future__ import annotations

from pathlib import Path

from harness import pipeline
from harness.config import RunConfig
from harness.evaluate import task_info
from harness.io import write_json
from harness.leaderboard import print_table, row, write
from harness.models import resolve
from harness.run import (EnginePool, Stage, StageContext, check_leaderboard_owner, config_hash, console,
                         prepare_run_dir, run_lock, run_stages)
from methods import REFERENCE, method


def plan(methods: list[str], tasks: list[str]) -> list[Stage]:
    """Tests first, then training per domain, then evaluation grouped by model (fewer reloads)."""
    kinds = sorted({task_info(t).kind for t in tasks})
    stages = [pipeline.test_stage(t) for t in tasks]
    for kind in kinds:
        for m in methods:
            stages += method(m).stages(kind)
    for m in methods:
        for t in tasks:
            trained = method(m).stages(task_info(t).kind)
            stages.append(pipeline.eval_stage(m, method(m).STYLE, t, trained[-1].name if trained else None))
    return stages


def with_reference(methods: list[str]) -> list[str]:
    return [REFERENCE] + [m for m in methods if m != REFERENCE]


def bench(cfg: RunConfig, methods: list[str], tasks: list[str], out: Path,
          overwrite: bool = False) -> list[dict]:
    if not tasks or not methods:
        raise ValueError("give at least one method (--methods) and one task (--tasks)")
    for t in tasks:
        task_info(t)                       # unknown names fail before anything is written
    methods = with_reference(methods)
    for m in methods:
        method(m)
    base = resolve(cfg.model)
    check_leaderboard_owner(out, config_hash(cfg), overwrite)
    run_dir = prepare_run_dir(cfg, out)
    console.print(f"run directory: {run_dir}")
    engines = EnginePool(cfg.engine)
    cache = out / "cache" if cfg.cache else None
    with run_lock(run_dir):
        try:
            times = run_stages(plan(methods, tasks),
                               lambda name: StageContext(cfg, run_dir, name, base, engines, cache))
        finally:
            engines.close()
        write_json(run_dir / "timings.json", times)
        if cache:
            stats = engines.cache_stats
            corrupt = f", {stats['corrupt']} corrupt entries recomputed" if stats["corrupt"] else ""
            console.print(f"generation cache: {stats['hits']} prompts reused, {stats['misses']} generated"
                          f"{corrupt} ({cache / 'generations.sqlite'})")
    rows = [row(run_dir, cfg.model, cfg.preset.name, m, t, task_info(t).kind, REFERENCE)
            for t in tasks for m in methods]
    write(rows, out)
    print_table(rows)
    return rows
