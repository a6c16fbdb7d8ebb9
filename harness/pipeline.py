"""The stages that RAIT methods are made of. A stage's name says what it computes; methods that
need the same computation name the same stage, and the run executes it once."""
from __future__ import annotations

import random
from pathlib import Path

from harness import construct, knowledge, sftcache
from harness.data import load_items, load_rows, to_item
from harness.io import read_json, read_jsonl, write_json, write_jsonl
from harness.paths import data_dir
from harness.prompts import idk_target, question_text
from harness.run import Stage, StageContext

TRAIN_STYLE = "refuse"    # CRaFT code trains RAIT data with the REFUSE1 prompt (train/*__REFUSE1.py)


def _data_dir(ctx: StageContext) -> Path | None:
    return data_dir(ctx.cfg.data_dir)


def pool_rows(items: list, pool_size: int | None, seed: int) -> list:
    """D_src: the whole split (pool_size None, the code) or a seeded sample in split order; a pool
    larger than the split is the whole split (the build stage records what that leaves short)."""
    if pool_size is None or pool_size >= len(items):
        return list(items)
    return [items[i] for i in sorted(random.Random(seed).sample(range(len(items)), pool_size))]


def pool_stage(kind: str) -> Stage:
    def run(ctx: StageContext) -> None:
        d = ctx.cfg.domain(kind)
        items = load_items(d.pool_dataset, d.pool_split, _data_dir(ctx))
        pool = pool_rows(items, d.pool_size, ctx.cfg.seed)
        write_jsonl(ctx.dir / "items.jsonl", pool)
        write_json(ctx.dir / "manifest.json", {"dataset": d.pool_dataset, "split": d.pool_split,
                                               "asked": d.pool_size, "split_size": len(items), "pool": len(pool)})
    return Stage(f"{kind}/pool", run)


def _query(ctx: StageContext, kind: str, model: dict) -> list[dict]:
    d = ctx.cfg.domain(kind)
    items = read_jsonl(ctx.input(f"{kind}/pool") / "items.jsonl")
    engine = ctx.engine(**model)
    scoring = ctx.cfg.preset.scoring
    if kind == "open":
        return knowledge.query_open(engine, items, d, ctx.cfg.seed, scoring)
    shots = load_items("mmlu", d.shot_split, _data_dir(ctx)) if d.n_shot else []
    return knowledge.query_choice(engine, items, shots, d, scoring)


def query_stage(kind: str, rehearsed: bool = False) -> Stage:
    """The knowledge query of M0, or of M~ (what the rehearsal wrote: a LoRA adapter or a full model)."""
    def run(ctx: StageContext) -> None:
        model = tuned_model(ctx, f"{kind}/rehearse") if rehearsed else {}
        write_jsonl(ctx.dir / "knowledge.jsonl", _query(ctx, kind, model))
    return Stage(f"{kind}/query_rehearsed" if rehearsed else f"{kind}/query_m0", run)


def _text(ctx: StageContext, item: dict, style: str) -> str:
    return question_text(item, style, ctx.cfg.preset.scoring.choice_prompt)


def _train(ctx: StageContext, kind: str, rows: list[dict], rehearsal: bool = False) -> None:
    from harness.sft import train
    d = ctx.cfg.domain(kind)
    sft = d.rehearsal_sft if rehearsal else d.sft
    # One GPU holds either the query engine or the model in training, never both.
    ctx.engines.close()
    write_jsonl(ctx.dir / "sft_data.jsonl", rows)
    bf16 = ctx.cfg.dtype == "bfloat16"
    entry = sftcache.key(ctx.base_model, sft, rows, ctx.cfg.seed, bf16)
    if ctx.cache_dir and sftcache.restore(ctx.cache_dir, entry, ctx.dir):
        return                               # the same dataset was trained before in this --out
    if ctx.cfg.train_launcher:
        launch_training(ctx, sft)
    else:
        train(ctx.base_model, rows, sft, ctx.dir, seed=ctx.cfg.seed, bf16=bf16,
              trust_remote_code=ctx.cfg.trust_remote_code)
    if ctx.cache_dir:
        sftcache.store(ctx.cache_dir, entry, ctx.dir)


def launch_training(ctx: StageContext, sft) -> None:
    """`harness train` on the stage's rows under the user's launcher (torchrun, accelerate launch):
    one process per GPU, data-parallel, the same global batch as in process."""
    import dataclasses
    import shlex
    import subprocess
    import sys
    write_json(ctx.dir / "sft_config.json", dataclasses.asdict(sft))
    cmd = [*shlex.split(ctx.cfg.train_launcher), "-m", "harness.cli", "train", "--model", ctx.base_model,
           "--data", str(ctx.dir / "sft_data.jsonl"), "--out", str(ctx.dir),
           "--sft-config", str(ctx.dir / "sft_config.json"), "--seed", str(ctx.cfg.seed),
           "--dtype", "bfloat16" if ctx.cfg.dtype == "bfloat16" else "float32"]
    if ctx.cfg.trust_remote_code:
        cmd.append("--trust-remote-code")
    if cmd[0] == "python":
        cmd[0] = sys.executable
    done = subprocess.run(cmd)
    if done.returncode != 0 or not (ctx.dir / "train.json").exists():
        raise RuntimeError(f"training under {ctx.cfg.train_launcher!r} failed (exit {done.returncode}); "
                           f"command: {shlex.join(cmd)}")


def rehearse_stage(kind: str) -> Stage:
    """Fine-tune M0 on the questions it knows best (gold answers, plain prompt): M~ of Algorithm 1."""
    def run(ctx: StageContext) -> None:
        d = ctx.cfg.domain(kind)
        table = read_jsonl(ctx.input(f"{kind}/query_m0") / "knowledge.jsonl")
        ids = set(knowledge.rehearsal_pick(table, d.rehearsal_size, d.rehearsal_min_correctness,
                                           d.rehearsal_min_certainty))
        items = [it for it in read_jsonl(ctx.input(f"{kind}/pool") / "items.jsonl") if it["id"] in ids]
        _train(ctx, kind, [{"id": it["id"], "prompt": _text(ctx, it, "basic"), "target": it["answer"]}
                           for it in items], rehearsal=True)
    return Stage(f"{kind}/rehearse", run)


def knowledge_stages(kind: str, flow: bool) -> list[Stage]:
    stages = [pool_stage(kind), query_stage(kind)]
    return stages + ([rehearse_stage(kind), query_stage(kind, rehearsed=True)] if flow else [])


def thresholds(ctx: StageContext, kind: str) -> construct.Thresholds:
    d = ctx.cfg.domain(kind)
    if d.tau_lo == d.tau_hi:
        return construct.from_tau(d.tau_lo)
    return construct.Thresholds(d.tau_lo, d.tau_hi, True)


def _sft_rows(ctx: StageContext, kind: str, items: list[dict], labels: list[tuple[str, str]]) -> list[dict]:
    """One training row per (id, label), in order; an id drawn twice (with replacement) trains twice."""
    by_id = {it["id"]: it for it in items}
    idk = idk_target(kind, ctx.cfg.preset.scoring.choice_prompt)
    return [{"id": i, "label": lab, "prompt": _text(ctx, by_id[i], TRAIN_STYLE),
             "target": by_id[i]["answer"] if lab == "vanilla" else idk} for i, lab in labels]


def build_stage(method: str, kind: str, rule: str) -> Stage:
    """D_van and D_idk by one of construct.METHOD_RULES; the shortfall goes into the manifest."""
    def run(ctx: StageContext) -> None:
        d = ctx.cfg.domain(kind)
        table = read_jsonl(ctx.input(f"{kind}/query_m0") / "knowledge.jsonl")
        if rule in construct.FLOW_METHODS:
            after = read_jsonl(ctx.input(f"{kind}/query_rehearsed") / "knowledge.jsonl")
            table = knowledge.with_flow(table, after)
        sel = construct.select(rule, table, d.n_van, d.n_idk, thresholds(ctx, kind), seed=ctx.cfg.seed,
                               keep_zero_flow=d.keep_zero_flow, replace=d.draw_with_replacement)
        construct.write_selection(sel, ctx.dir / "selection.jsonl")
        items = read_jsonl(ctx.input(f"{kind}/pool") / "items.jsonl")
        rows = _sft_rows(ctx, kind, items, [(r["id"], r["label"]) for r in sel.rows])
        write_jsonl(ctx.dir / "sft_data.jsonl", rows)
        write_json(ctx.dir / "manifest.json", {"rule": rule, **sel.to_manifest()})
        write_crss(ctx, items, rows)
    return Stage(f"{kind}/{method}/build", run)


def vanilla_build_stage(method: str, kind: str) -> Stage:
    """Van-Tuning: N_van + N_idk random pool questions with their original answers (with replacement
    where the domain draws so, as the MCQA code's `sample(n, replace=True)`)."""
    def run(ctx: StageContext) -> None:
        d = ctx.cfg.domain(kind)
        items = read_jsonl(ctx.input(f"{kind}/pool") / "items.jsonl")
        want = d.n_van + d.n_idk
        chosen = construct.draw(random.Random(ctx.cfg.seed), items, want, d.draw_with_replacement)
        rows = _sft_rows(ctx, kind, items, [(it["id"], "vanilla") for it in chosen])
        write_jsonl(ctx.dir / "sft_data.jsonl", rows)
        write_json(ctx.dir / "manifest.json", {
            "rule": "van-tuning", "n_vanilla": len(chosen), "n_idk": 0,
            "n_unique": len({it["id"] for it in chosen}), "shortfall": {"vanilla": want - len(chosen), "idk": 0}})
    return Stage(f"{kind}/{method}/build", run)


def write_crss(ctx: StageContext, items: list[dict], rows: list[dict], tau_sim: float = 0.97) -> None:
    """Conflict rate of similar samples: share of D_idk whose nearest D_van question (M0's last
    hidden layer, mean over tokens) is more similar than tau_sim."""
    import numpy as np
    by_id = {it["id"]: it for it in items}
    van = list(dict.fromkeys(r["id"] for r in rows if r["label"] == "vanilla"))
    idk = list(dict.fromkeys(r["id"] for r in rows if r["label"] == "idk"))
    result = {"tau_sim": tau_sim, "n_idk": len(idk), "n_van": len(van), "crss": None}
    if van and idk:
        engine = ctx.engine()
        try:
            emb = np.asarray(engine.hidden_states(
                [engine.apply_template(_text(ctx, by_id[i], "basic")) for i in van + idk]))
        except NotImplementedError as err:       # e.g. vLLM exposes no hidden layers
            result["reason"] = str(err)
        else:
            emb /= np.clip(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12, None)
            best = (emb[len(van):] @ emb[:len(van)].T).max(axis=1)
            result.update(crss=float((best > tau_sim).mean()), max_similarity_mean=float(best.mean()))
    write_json(ctx.dir / "crss.json", result)


def train_stage(method: str, kind: str) -> Stage:
    def run(ctx: StageContext) -> None:
        rows = read_jsonl(ctx.input(f"{kind}/{method}/build") / "sft_data.jsonl")
        if rows:
            _train(ctx, kind, rows)
        else:
            # SFT on nothing leaves M0 as it is; the build manifest records the shortfall.
            write_json(ctx.dir / "train.json", {"mode": "none", "examples": 0,
                                                "reason": "the constructed dataset is empty"})
    return Stage(f"{kind}/{method}/train", run)


def tuned_model(ctx: StageContext, train_stage_name: str) -> dict:
    """Engine arguments for a trained stage: a LoRA adapter on the base, or a full model directory."""
    info = read_json(ctx.input(train_stage_name) / "train.json")
    path = str(ctx.input(train_stage_name) / "model")
    return {"none": {}, "lora": {"adapter": path}, "full": {"model": path}}[info["mode"]]


def test_stage(task: str) -> Stage:
    """The test questions of a task: a seeded sample of n_test (all when None), in split order."""
    from harness.evaluate import task_info, test_split

    def run(ctx: StageContext) -> None:
        info = task_info(task)
        split = test_split(task, ctx.cfg.preset.scoring)
        rows = load_rows(info.dataset, split, _data_dir(ctx))
        n = ctx.cfg.n_test
        keep = sorted(random.Random(ctx.cfg.seed).sample(range(len(rows)), n)) \
            if n is not None and n < len(rows) else range(len(rows))
        write_jsonl(ctx.dir / "rows.jsonl", [rows[i] for i in keep])
        write_jsonl(ctx.dir / "items.jsonl", [to_item(info.dataset, split, i, rows[i]) for i in keep])
    return Stage(f"tests/{task}", run)


def eval_stage(method: str, style: str, task: str, trained: str | None) -> Stage:
    from harness.evaluate import evaluate, task_info

    def run(ctx: StageContext) -> None:
        tests = ctx.input(f"tests/{task}")
        engine = ctx.engine(**(tuned_model(ctx, trained) if trained else {}))
        p = ctx.cfg.preset
        limit = p.eval_max_new_tokens_open if task_info(task).kind == "open" else p.eval_max_new_tokens_choice
        records = evaluate(engine, task, read_jsonl(tests / "items.jsonl"), tests / "rows.jsonl", style, limit,
                           ctx.cfg.preset.scoring)
        write_jsonl(ctx.dir / "records.jsonl", records)
    return Stage(f"eval/{method}/{task}", run)
