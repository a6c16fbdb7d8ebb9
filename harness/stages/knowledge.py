"""What M0 knows: the pool, the knowledge query (of M0 and of the rehearsed model), M0's greedy
answers, the rehearsal; and the table a method selects from."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Callable

from harness.data.load import load_items
from harness.data.prompts import open_fewshot
from harness.knowledge import query as knowledge
from harness.run import layout
from harness.run.io import read_json, read_jsonl, write_json, write_jsonl
from harness.run.stage import Stage, StageContext, console
from harness.stages.rows import text
from harness.stages.training import train, tuned_model

POOL, QUERY, GREEDY, REHEARSE = 1, 1, 1, 1      # code versions: bump one when its stage writes otherwise


def pool_rows(items: list, pool_size: int | None, seed: int) -> list:
    """D_src: the whole split (pool_size None, the code) or a seeded sample in split order; a pool
    larger than the split is the whole split (the build stage records what that leaves short)."""
    if pool_size is None or pool_size >= len(items):
        return list(items)
    return [items[i] for i in sorted(random.Random(seed).sample(range(len(items)), pool_size))]


def pool_stage(kind: str) -> Stage:
    def run(ctx: StageContext) -> None:
        from harness.data.geo import provenance
        from harness.data.load import source
        d = ctx.cfg.domain(kind)
        items = load_items(d.pool_dataset, d.pool_split, ctx.data_dir)
        pool = pool_rows(items, d.pool_size, ctx.cfg.seed)
        write_jsonl(ctx.dir / layout.ITEMS, pool)
        generated = {"generated_data": provenance()} if source(d.pool_dataset).generated else {}
        write_json(ctx.dir / layout.MANIFEST, {"dataset": d.pool_dataset, "split": d.pool_split,
                                               "asked": d.pool_size, "split_size": len(items), "pool": len(pool),
                                               **generated})
    return Stage(layout.pool(kind), run, POOL)


def _query(ctx: StageContext, kind: str, model: dict, items: list[dict]) -> list[dict]:
    d = ctx.cfg.domain(kind)
    engine = ctx.engine(**model)
    scoring = ctx.cfg.preset.scoring
    if kind == "open":
        return knowledge.query_open(engine, items, d, ctx.cfg.seed, scoring)
    shots = load_items("mmlu", d.shot_split, ctx.data_dir) if d.n_shot else []
    return knowledge.query_choice(engine, items, shots, d, scoring)


def query_stage(kind: str, rehearsed: bool = False) -> Stage:
    """The knowledge query of M0, or of M~ (what the rehearsal wrote: a LoRA adapter or a full model)."""
    return _query_part(kind, rehearsed, layout.query(kind, rehearsed), 0, 1)


def _query_part(kind: str, rehearsed: bool, name: str, index: int, shards: int) -> Stage:
    """The knowledge query of slice `index` of `shards` of the pool (the whole pool for 1 of 1)."""
    def run(ctx: StageContext) -> None:
        items = read_jsonl(ctx.input(layout.pool(kind)) / layout.ITEMS)
        lo, hi = layout.shard_bounds(len(items), index, shards)
        model = tuned_model(ctx, layout.rehearse(kind)) if rehearsed else {}
        write_jsonl(ctx.dir / layout.KNOWLEDGE, _query(ctx, kind, model, items[lo:hi]) if hi > lo else [])
    return Stage(name, run, QUERY, (layout.pool(kind), layout.rehearse(kind)) if rehearsed else (layout.pool(kind),))


def sharded_query_stages(kind: str, rehearsed: bool, shards: int) -> list[Stage]:
    """The knowledge query as `shards` slices of the pool (each its own stage, for another worker)
    and the query stage itself, which joins their rows in pool order: the rows one stage writes, as
    each question's samples are seeded from its own prompt and scored alone."""
    name = layout.query(kind, rehearsed)
    parts = [_query_part(kind, rehearsed, layout.shard(name, i, shards), i, shards) for i in range(shards)]

    def join(ctx: StageContext) -> None:
        write_jsonl(ctx.dir / layout.KNOWLEDGE,
                    [r for p in parts for r in read_jsonl(ctx.input(p.name) / layout.KNOWLEDGE)])
    return [*parts, Stage(name, join, QUERY, tuple(p.name for p in parts))]


def data_parallel(stage: Stage, shards: int) -> list[Stage]:
    """A knowledge query as `shards` slices and their join (sharded_query_stages); any other stage as it is."""
    queries = {layout.query(kind, rehearsed): (kind, rehearsed)
               for kind in ("open", "choice") for rehearsed in (False, True)}
    if shards == 1 or stage.name not in queries:
        return [stage]
    return sharded_query_stages(*queries[stage.name], shards)


def greedy_stage(kind: str) -> Stage:
    """M0's greedy answer to each pool question (OEQA), asked as the knowledge query asks (3-shot,
    up to query_max_new_tokens, the same extraction): R-Tuning and Alignment for Honesty build their
    targets from it. (MCQA needs no stage: the greedy letter is the query's most probable one.)"""
    def run(ctx: StageContext) -> None:
        d = ctx.cfg.domain(kind)
        items = read_jsonl(ctx.input(layout.pool(kind)) / layout.ITEMS)
        engine = ctx.engine()
        prompts = [engine.apply_template(open_fewshot(it["question"], multiturn=d.fewshot_multiturn)) for it in items]
        raw = engine.generate(prompts, n=1, temperature=0.0, max_new_tokens=d.query_max_new_tokens,
                              seed=ctx.cfg.seed, desc="greedy answers (M0)")
        write_jsonl(ctx.dir / layout.KNOWLEDGE, [{"id": it["id"], "greedy": knowledge.EXTRACT[d.query_answer](r[0])}
                                                 for it, r in zip(items, raw)])
    return Stage(layout.greedy(kind), run, GREEDY, (layout.pool(kind),))


def rehearse_stage(kind: str) -> Stage:
    """Fine-tune M0 on the questions it knows best (gold answers, plain prompt): M~ of Algorithm 1."""
    def run(ctx: StageContext) -> None:
        d = ctx.cfg.domain(kind)
        table = read_jsonl(ctx.input(layout.query(kind)) / layout.KNOWLEDGE)
        picked = knowledge.rehearsal_pick(table, d.rehearsal_size, d.rehearsal_min_correctness,
                                          d.rehearsal_min_certainty)
        report = knowledge.rehearsal_report(table, picked, d.rehearsal_size, d.rehearsal_min_correctness,
                                            d.rehearsal_min_certainty)
        write_json(ctx.dir / layout.REHEARSAL, report)
        if report["fallback"]:
            console.print(f"[yellow]warning: {kind} rehearsal: only {report['meet_thresholds']} of {report['picked']} "
                          f"questions meet mu >= {d.rehearsal_min_correctness} (and the certainty threshold); the "
                          f"rest are the next best by (mu, sigma), down to mu = {report['lowest_correctness_picked']:.2f}"
                          f" ({report['picked_with_correctness_0']} at mu = 0) - recorded in "
                          f"{layout.rehearse(kind)}/{layout.REHEARSAL}[/yellow]")
        ids = set(picked)
        items = [it for it in read_jsonl(ctx.input(layout.pool(kind)) / layout.ITEMS) if it["id"] in ids]
        train(ctx, kind, [{"id": it["id"], "prompt": text(ctx, it, "basic"), "target": it["answer"]}
                          for it in items], rehearsal=True)
    return Stage(layout.rehearse(kind), run, REHEARSE, (layout.query(kind), layout.pool(kind)), trains=True)


def knowledge_stages(kind: str, table: str) -> list[Stage]:
    """What a method's table (construct.COLUMNS) needs: the pool; M0's knowledge query; or also the
    rehearsal and the rehearsed model's query (the knowledge flow)."""
    stages = {"pool": [pool_stage(kind)], "knowledge": [pool_stage(kind), query_stage(kind)],
              "answers": [pool_stage(kind), query_stage(kind)] + ([greedy_stage(kind)] if kind == "open" else []),
              "gradients": [pool_stage(kind), query_stage(kind), rehearse_stage(kind)],
              "flow": [pool_stage(kind), query_stage(kind), rehearse_stage(kind), query_stage(kind, rehearsed=True)]}
    if table not in stages:
        raise ValueError(f"unknown table {table!r}; valid: {', '.join(stages)}")
    return stages[table]


def table_inputs(kind: str, table: str) -> tuple[str, ...]:
    """The stages knowledge_table reads for a table."""
    reads = {"pool": (), "knowledge": (layout.query(kind),), "flow": (layout.query(kind), layout.query(kind, True)),
             "gradients": (layout.query(kind), layout.gradients(kind)),
             "answers": (layout.query(kind),) + ((layout.greedy(kind),) if kind == "open" else ())}
    return (layout.pool(kind), *reads[table])


def read_knowledge(ctx: StageContext, kind: str, table: str) -> list[dict]:
    """The table a method selects from, from the stages this one declared it reads."""
    return knowledge_table(ctx.input, kind, table, ctx.cfg.preset.scoring)


def knowledge_table(stage: Callable[[str], Path], kind: str, table: str, scoring) -> list[dict]:
    """The table a method selects from: the pool's items, M0's knowledge, or M0's joined with the
    rehearsed model's correctness, its answers, or the gradient features (stages.gradients).
    `stage(name)` is a finished stage's folder."""
    if table == "pool":
        return read_jsonl(stage(layout.pool(kind)) / layout.ITEMS)
    rows = read_jsonl(stage(layout.query(kind)) / layout.KNOWLEDGE)
    if table == "flow":
        rows = knowledge.with_flow(rows, read_jsonl(stage(layout.query(kind, True)) / layout.KNOWLEDGE))
    if table == "gradients":
        import numpy as np
        where = stage(layout.gradients(kind))
        feats = {tuple(k): v for k, v in zip(read_json(where / layout.FEATURE_IDS), np.load(where / layout.FEATURES))}
        gold = {it["id"]: it["answer"] for it in read_jsonl(stage(layout.pool(kind)) / layout.ITEMS)}
        rows = [{**r, "gold": gold[r["id"]], "gradient": feats.get((r["id"], "gold")),
                 "refusal_gradient": feats.get((r["id"], "refusal"))} for r in rows]
    if table == "answers":
        items = read_jsonl(stage(layout.pool(kind)) / layout.ITEMS)
        greedy = read_jsonl(stage(layout.greedy(kind)) / layout.KNOWLEDGE) if kind == "open" else None
        rows = knowledge.with_answers(rows, items, greedy, scoring)
    return rows
