"""A task's test questions, and one model's answers to them scored by the task's lm-eval definition."""
from __future__ import annotations

import random

from harness.data.load import load_rows, to_item
from harness.run import layout
from harness.run.io import read_jsonl, write_jsonl
from harness.run.stage import Stage, StageContext
from harness.stages.training import tuned_model

TESTS, EVAL = 1, 2      # code versions; eval 2: the detector counts every method's refusal targets


def test_stage(task: str) -> Stage:
    """The test questions of a task: a seeded sample of n_test (all when None), in split order."""
    from harness.scoring.evaluate import task_info, test_split

    def run(ctx: StageContext) -> None:
        info = task_info(task)
        split = test_split(task, ctx.cfg.preset.scoring)
        rows = load_rows(info.dataset, split, ctx.data_dir)
        n = ctx.cfg.test_size(task)
        keep = sorted(random.Random(ctx.cfg.seed).sample(range(len(rows)), n)) \
            if n is not None and n < len(rows) else range(len(rows))
        write_jsonl(ctx.dir / layout.ROWS, [rows[i] for i in keep])
        write_jsonl(ctx.dir / layout.ITEMS, [to_item(info.dataset, split, i, rows[i]) for i in keep])
    return Stage(layout.tests(task), run, TESTS)


def eval_stage(label: str, style: str, task: str, trained: str | None) -> Stage:
    """The answers of `label`'s model (the stage `trained` wrote, or the base) to a task's test
    questions in the method's prompt style, as per-sample records."""
    def run(ctx: StageContext) -> None:
        tests = ctx.input(layout.tests(task))
        _answer(ctx, task, style, trained, read_jsonl(tests / layout.ITEMS), tests / layout.ROWS,
                results_file=ctx.dir / layout.LM_EVAL_RESULTS)
    return Stage(layout.evaluation(label, task), run, EVAL, (layout.tests(task), *([trained] if trained else [])))


def _answer(ctx: StageContext, task: str, style: str, trained: str | None, items: list[dict], rows_file,
            results_file=None) -> None:
    from harness.scoring.evaluate import answer_limit, evaluate
    engine = ctx.engine(**(tuned_model(ctx, trained) if trained else {}))
    records = evaluate(engine, task, items, rows_file, style, answer_limit(task, ctx.cfg.preset),
                       ctx.cfg.preset.scoring, results_file=results_file)
    write_jsonl(ctx.dir / layout.RECORDS, records)


def sharded_eval_stages(label: str, style: str, task: str, trained: str | None, shards: int) -> list[Stage]:
    """The evaluation as `shards` slices of the test questions (each its own stage, for another
    worker) and the evaluation stage itself, which joins their records in order: the records one
    stage writes, as every answer depends on its own prompt alone (engines seed each prompt's
    samples from the prompt)."""
    name, reads = layout.evaluation(label, task), (layout.tests(task), *([trained] if trained else []))

    def part(index: int) -> Stage:
        def run(ctx: StageContext) -> None:
            tests = ctx.input(layout.tests(task))
            items, rows = read_jsonl(tests / layout.ITEMS), read_jsonl(tests / layout.ROWS)
            lo, hi = layout.shard_bounds(len(items), index, shards)
            write_jsonl(ctx.dir / layout.ROWS, rows[lo:hi])
            if lo == hi:                         # more shards than questions
                write_jsonl(ctx.dir / layout.RECORDS, [])
                return
            _answer(ctx, task, style, trained, items[lo:hi], ctx.dir / layout.ROWS)
        return Stage(layout.shard(name, index, shards), run, EVAL, reads)

    parts = [part(i) for i in range(shards)]

    def join(ctx: StageContext) -> None:
        write_jsonl(ctx.dir / layout.RECORDS, [r for p in parts for r in read_jsonl(ctx.input(p.name) / layout.RECORDS)])
    return [*parts, Stage(name, join, EVAL, tuple(p.name for p in parts))]
