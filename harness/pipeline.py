"""The stages that RAIT methods are made of. A stage's name says what it computes; methods that
need the same computation name the same stage, and the run executes it once. A stage's version is
bumped when its code changes what it writes: DONE records it, and a changed version reruns the
stage and every stage that read it."""
from __future__ import annotations

import dataclasses
import random
from pathlib import Path

from harness import construct, knowledge, layout, sftcache
from harness.data import load_items, load_rows, to_item
from harness.io import read_json, read_jsonl, write_json, write_jsonl
from harness.paths import data_dir
from harness.prompts import idk_target, open_fewshot, question_text
from harness.run import Stage, StageContext, console

TRAIN_STYLE = "refuse"    # CRaFT code trains RAIT data with the REFUSE1 prompt (train/*__REFUSE1.py)
# Code versions of the shared stages (a method's build stage carries the method file's VERSION).
# eval 2: the refusal detector counts every method's refusal targets; confidence phrases are stripped
# gradients 2: also the "I don't know" features of every vanilla candidate (GRAIT's weight delta)
VERSIONS = {"pool": 1, "query": 1, "greedy": 1, "gradients": 2, "confidence": 1, "rehearse": 1, "crss": 1, "train": 1, "tests": 1, "eval": 2}


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
        write_jsonl(ctx.dir / layout.ITEMS, pool)
        from harness.data import source
        from harness.geo import provenance
        generated = {"generated_data": provenance()} if source(d.pool_dataset).generated else {}
        write_json(ctx.dir / layout.MANIFEST, {"dataset": d.pool_dataset, "split": d.pool_split,
                                               "asked": d.pool_size, "split_size": len(items), "pool": len(pool),
                                               **generated})
    return Stage(layout.pool(kind), run, VERSIONS["pool"])


def _query(ctx: StageContext, kind: str, model: dict) -> list[dict]:
    d = ctx.cfg.domain(kind)
    items = read_jsonl(ctx.input(layout.pool(kind)) / layout.ITEMS)
    engine = ctx.engine(**model)
    scoring = ctx.cfg.preset.scoring
    if kind == "open":
        return knowledge.query_open(engine, items, d, ctx.cfg.seed, scoring)
    shots = load_items("mmlu", d.shot_split, _data_dir(ctx)) if d.n_shot else []
    return knowledge.query_choice(engine, items, shots, d, scoring)


def query_stage(kind: str, rehearsed: bool = False) -> Stage:
    """The knowledge query of M0, or of M~ (what the rehearsal wrote: a LoRA adapter or a full model)."""
    def run(ctx: StageContext) -> None:
        model = tuned_model(ctx, layout.rehearse(kind)) if rehearsed else {}
        write_jsonl(ctx.dir / layout.KNOWLEDGE, _query(ctx, kind, model))
    return Stage(layout.query(kind, rehearsed), run, VERSIONS["query"])


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
    return Stage(layout.greedy(kind), run, VERSIONS["greedy"])


FEATURES, FEATURE_IDS = "features.npy", "feature_ids.json"


def gradient_candidates(table: list[dict], d) -> tuple[list[dict], list[dict], list[dict]]:
    """GRAIT's rows whose gradients are computed: D_van, the N_van best-known vanilla candidates (by mu,
    table order on ties: the code's top-4,000 by correctness), every vanilla candidate and every idk
    candidate."""
    van, idk = construct.candidates(table, construct.params(d).thresholds)
    return construct.best_known(van, d.n_van), van, idk


def gradients_stage(kind: str, dim: int, lora: dict) -> Stage:
    """LoRA gradient features (harness.gradients) on the warmup model, the rehearsal's (GRAIT warms a
    LoRA up on the questions M0 knows best, CRaFT's rehearsal set), all in the refusal training prompt:
    of D_van with its gold answers (the selection's agreement), and of every vanilla and idk candidate
    with the "I don't know" target (the loss weights' delta, as construct_grait_data.py takes it)."""
    def run(ctx: StageContext) -> None:
        import numpy as np

        from harness.gradients import features
        d = ctx.cfg.domain(kind)
        table = read_jsonl(ctx.input(layout.query(kind)) / layout.KNOWLEDGE)
        by_id = {it["id"]: it for it in read_jsonl(ctx.input(layout.pool(kind)) / layout.ITEMS)}
        van, van_all, idk = gradient_candidates(table, d)
        idk_text = idk_target(kind, ctx.cfg.preset.scoring.choice_prompt)
        keys = [(r["id"], "gold") for r in van] + [(r["id"], "refusal") for r in van_all + idk]
        rows = [{"prompt": _text(ctx, by_id[i], TRAIN_STYLE), "target": by_id[i]["answer"] if t == "gold" else idk_text}
                for i, t in keys]
        warmup = tuned_model(ctx, layout.rehearse(kind))
        ctx.engines.close()
        feats, report = (features(ctx.base_model, rows, warmup, dim=dim, seed=ctx.cfg.seed, lora=lora,
                                  max_length=d.sft.max_length, trust_remote_code=ctx.cfg.trust_remote_code,
                                  prompt_style=ctx.cfg.prompt_style) if rows
                         else (np.zeros((0, dim), dtype=np.float32), {"rows": 0}))
        np.save(ctx.dir / FEATURES, feats)
        write_json(ctx.dir / FEATURE_IDS, [list(k) for k in keys])
        write_json(ctx.dir / layout.MANIFEST, {**report, "n_van": len(van), "n_van_candidates": len(van_all),
                                               "n_idk_candidates": len(idk)})
    return Stage(layout.gradients(kind), run, VERSIONS["gradients"])


def _text(ctx: StageContext, item: dict, style: str) -> str:
    return question_text(item, style, ctx.cfg.preset.scoring.choice_prompt)


def _train(ctx: StageContext, kind: str, rows: list[dict], rehearsal: bool = False, preference=None,
           start: dict | None = None) -> None:
    """SFT on the rows, or with `preference` (harness.dpo.Preference) DPO from `start` (engine arguments
    of the model to improve) on rows that also hold `rejected`."""
    d = ctx.cfg.domain(kind)
    sft = d.rehearsal_sft if rehearsal else d.sft
    # One GPU holds either the query engine or the model in training, never both.
    ctx.engines.close()
    write_jsonl(ctx.dir / layout.SFT_DATA, rows)
    bf16 = ctx.cfg.dtype == "bfloat16"
    # The rehearsal belongs to the data (it decides the knowledge flow): always the data seed.
    seed = ctx.cfg.seed if rehearsal or ctx.train_seed is None else ctx.train_seed
    extra = None if preference is None else {"dpo": dataclasses.asdict(preference),
                                             "start": {k: sftcache.model_id(v) for k, v in (start or {}).items()}}
    entry = sftcache.key(ctx.base_model, sft, rows, seed, bf16, ctx.cfg.prompt_style, extra)
    if ctx.cache_dir and sftcache.restore(ctx.cache_dir, entry, ctx.dir):
        return                               # the same dataset was trained before in this --out
    if ctx.cfg.train_launcher:
        launch_training(ctx, sft, seed, preference, start)
    elif preference is not None:
        from harness.dpo import train as train_dpo
        train_dpo(ctx.base_model, rows, sft, preference, ctx.dir, start=start, seed=seed, bf16=bf16,
                  trust_remote_code=ctx.cfg.trust_remote_code, prompt_style=ctx.cfg.prompt_style)
    else:
        from harness.sft import train
        train(ctx.base_model, rows, sft, ctx.dir, seed=seed, bf16=bf16,
              trust_remote_code=ctx.cfg.trust_remote_code, prompt_style=ctx.cfg.prompt_style)
    if ctx.cache_dir:
        sftcache.store(ctx.cache_dir, entry, ctx.dir)


def launch_training(ctx: StageContext, sft, seed: int, preference=None, start: dict | None = None) -> None:
    """`harness train` on the stage's rows under the user's launcher (torchrun, accelerate launch):
    one process per GPU, data-parallel, the same global batch as in process."""
    import shlex
    import subprocess
    import sys
    write_json(ctx.dir / "sft_config.json", dataclasses.asdict(sft))
    cmd = [*shlex.split(ctx.cfg.train_launcher), "-m", "harness.cli", "train", "--model", ctx.base_model,
           "--data", str(ctx.dir / layout.SFT_DATA), "--out", str(ctx.dir),
           "--sft-config", str(ctx.dir / "sft_config.json"), "--seed", str(seed),
           "--dtype", "bfloat16" if ctx.cfg.dtype == "bfloat16" else "float32",
           "--prompt-style", ctx.cfg.prompt_style]
    if ctx.cfg.trust_remote_code:
        cmd.append("--trust-remote-code")
    if preference is not None:
        cmd += ["--dpo-beta", str(preference.beta), "--dpo-sft-weight", str(preference.sft_weight)]
        cmd += [f"--start-{k}={v}" for k, v in (start or {}).items()]
    if cmd[0] == "python":
        cmd[0] = sys.executable
    done = subprocess.run(cmd)
    if done.returncode != 0 or not (ctx.dir / layout.TRAIN).exists():
        raise RuntimeError(f"training under {ctx.cfg.train_launcher!r} failed (exit {done.returncode}); "
                           f"command: {shlex.join(cmd)}")


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
        _train(ctx, kind, [{"id": it["id"], "prompt": _text(ctx, it, "basic"), "target": it["answer"]}
                           for it in items], rehearsal=True)
    return Stage(layout.rehearse(kind), run, VERSIONS["rehearse"])


def knowledge_stages(kind: str, table: str) -> list[Stage]:
    """What a method's table (construct.COLUMNS) needs: the pool; M0's knowledge query; or also the
    rehearsal and the rehearsed model's query (the knowledge flow)."""
    stages = {"pool": [pool_stage(kind)], "knowledge": [pool_stage(kind), query_stage(kind)],
              "answers": [pool_stage(kind), query_stage(kind)] + ([greedy_stage(kind)] if kind == "open" else []),
              "gradients": [pool_stage(kind), query_stage(kind), rehearse_stage(kind)],
              "flow": [pool_stage(kind), query_stage(kind), rehearse_stage(kind), query_stage(kind, rehearsed=True)]}
    if table not in stages:
        raise ValueError(f"unknown table kind {table!r}; valid: {', '.join(stages)}")
    return stages[table]


def read_knowledge(ctx: StageContext, kind: str, table: str) -> list[dict]:
    """The table a method selects from: the pool's items, M0's knowledge, or M0's joined with the
    rehearsed model's correctness."""
    if table == "pool":
        return read_jsonl(ctx.input(layout.pool(kind)) / layout.ITEMS)
    rows = read_jsonl(ctx.input(layout.query(kind)) / layout.KNOWLEDGE)
    if table == "flow":
        rows = knowledge.with_flow(rows, read_jsonl(ctx.input(layout.query(kind, True)) / layout.KNOWLEDGE))
    if table == "gradients":
        import numpy as np
        where = ctx.input(layout.gradients(kind))
        feats = {tuple(k): v for k, v in zip(read_json(where / FEATURE_IDS), np.load(where / FEATURES))}
        gold = {it["id"]: it["answer"] for it in read_jsonl(ctx.input(layout.pool(kind)) / layout.ITEMS)}
        rows = [{**r, "gold": gold[r["id"]], "gradient": feats.get((r["id"], "gold")),
                 "refusal_gradient": feats.get((r["id"], "refusal"))} for r in rows]
    if table == "answers":
        items = read_jsonl(ctx.input(layout.pool(kind)) / layout.ITEMS)
        greedy = read_jsonl(ctx.input(layout.greedy(kind)) / layout.KNOWLEDGE) if kind == "open" else None
        rows = knowledge.with_answers(rows, items, greedy, ctx.cfg.preset.scoring)
    return rows


def _sft_rows(ctx: StageContext, kind: str, items: list[dict], selected: list[dict]) -> list[dict]:
    """One training row per selected row, in order (an id drawn twice trains twice): its own target
    (and `rejected`, `weight`) where the method wrote them, else the gold answer (vanilla) or "I don't
    know" (idk)."""
    by_id = {it["id"]: it for it in items}
    idk = idk_target(kind, ctx.cfg.preset.scoring.choice_prompt)
    return [{"id": r["id"], "label": r["label"], "prompt": _text(ctx, by_id[r["id"]], TRAIN_STYLE),
             "target": r.get("target", by_id[r["id"]]["answer"] if r["label"] == "vanilla" else idk),
             **{k: v for k, v in r.items() if k not in ("id", "label", "target")}} for r in selected]


def build_stage(method: str, kind: str, select, version: int, table: str) -> Stage:
    """D_van and D_idk by the method's `select` on its table; the shortfall goes into the manifest.
    Pure: reads tables, loads no model."""
    def run(ctx: StageContext) -> None:
        idk = idk_target(kind, ctx.cfg.preset.scoring.choice_prompt)
        sel = construct.apply(select, table, read_knowledge(ctx, kind, table),
                              construct.params(ctx.cfg.domain(kind), idk), seed=ctx.cfg.seed)
        construct.write_selection(sel, ctx.dir / layout.SELECTION)
        items = read_jsonl(ctx.input(layout.pool(kind)) / layout.ITEMS)
        rows = _sft_rows(ctx, kind, items, list(sel.rows))
        write_jsonl(ctx.dir / layout.SFT_DATA, rows)
        write_json(ctx.dir / layout.MANIFEST, {"rule": method, **sel.to_manifest()})
        short = sel.shortfall
        if short["vanilla"] or short["idk"]:
            console.print(f"[yellow]warning: {method} ({kind}): asked {sel.n_van_asked} vanilla / {sel.n_idk_asked} idk "
                          f"rows, the pool has {sel.n_van_candidates} / {sel.n_idk_candidates} candidates: short by "
                          f"{short['vanilla']} / {short['idk']} (flagged 'short' on the leaderboard)[/yellow]")
    return Stage(layout.build(kind, method), run, version)


def crss_stage(method: str, kind: str) -> Stage:
    """CRSS of the method's constructed set (write_crss), on M0's hidden states."""
    def run(ctx: StageContext) -> None:
        rows = read_jsonl(ctx.input(layout.build(kind, method)) / layout.SFT_DATA)
        write_crss(ctx, read_jsonl(ctx.input(layout.pool(kind)) / layout.ITEMS), rows)
    return Stage(layout.crss(kind, method), run, VERSIONS["crss"])


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
    write_json(ctx.dir / layout.CRSS, result)


def train_stage(method: str, kind: str, sft_first: bool = False) -> Stage:
    """SFT on the method's constructed rows. `sft_first`: the SFT before a preference stage, on the
    rows' chosen answers (`<kind>/<method>/sft`; the same rows as another method's SFT train once,
    through the trained-model store)."""
    def run(ctx: StageContext) -> None:
        rows = read_jsonl(ctx.input(layout.build(kind, method)) / layout.SFT_DATA)
        if sft_first:
            rows = [{k: v for k, v in r.items() if k != "rejected"} for r in rows]
        if rows:
            _train(ctx, kind, rows)
        else:
            # SFT on nothing leaves M0 as it is; the build manifest records the shortfall.
            console.print(f"[red]warning: {method} ({kind}): the constructed training set is empty, so nothing is "
                          f"trained: it is scored as the untuned model and flagged UNTRAINED[/red]")
            write_json(ctx.dir / layout.TRAIN, {"mode": "none", "examples": 0,
                                                "reason": "the constructed dataset is empty"})
    return Stage(layout.sft(kind, method) if sft_first else layout.train(kind, method), run, VERSIONS["train"])


def preference_stage(method: str, kind: str, preference) -> Stage:
    """DPO (harness.dpo) on the method's preference rows, from the model its SFT stage trained on the
    chosen answers (train_stage(sft_first=True)); an empty set leaves that model, flagged."""
    def run(ctx: StageContext) -> None:
        rows = read_jsonl(ctx.input(layout.build(kind, method)) / layout.SFT_DATA)
        start = tuned_model(ctx, layout.sft(kind, method))
        if rows:
            _train(ctx, kind, rows, preference=preference, start=start)
        else:
            console.print(f"[red]warning: {method} ({kind}): no preference pairs, so nothing is trained: it is scored "
                          f"as the model it starts from and flagged UNTRAINED[/red]")
            write_json(ctx.dir / layout.TRAIN, {"mode": "none", "examples": 0, "start": start,
                                                "reason": "the constructed preference set is empty"})
    return Stage(layout.train(kind, method), run, VERSIONS["train"])


def for_seed(stage: Stage, seed: int | None) -> Stage:
    """A training stage under training seed `seed`, in its own folder (`train@seed<s>`); the stage
    as it is for None (the data seed)."""
    if seed is None:
        return stage

    def run(ctx: StageContext) -> None:
        stage.run(dataclasses.replace(ctx, train_seed=seed))    # shares ctx.inputs: DONE records them
    return Stage(layout.seeded(stage.name, seed), run, stage.version)


def trained_by(stages: list[Stage]) -> str | None:
    """The stage whose folder holds a method's trained model (None for an untuned method)."""
    names = [s.name for s in stages if s.name.endswith("/train")]
    return names[-1] if names else None


def tuned_model(ctx: StageContext, train_stage_name: str) -> dict:
    """Engine arguments for a trained stage: a LoRA adapter on the base, or a full model directory."""
    info = read_json(ctx.input(train_stage_name) / layout.TRAIN)
    path = str(ctx.input(train_stage_name) / "model")
    # untrained: the model it started from (a preference stage's start; the base for SFT)
    return {"none": info.get("start", {}), "lora": {"adapter": path}, "full": {"model": path}}[info["mode"]]


def test_stage(task: str) -> Stage:
    """The test questions of a task: a seeded sample of n_test (all when None), in split order."""
    from harness.evaluate import task_info, test_split

    def run(ctx: StageContext) -> None:
        info = task_info(task)
        split = test_split(task, ctx.cfg.preset.scoring)
        rows = load_rows(info.dataset, split, _data_dir(ctx))
        n = ctx.cfg.test_size(task)
        keep = sorted(random.Random(ctx.cfg.seed).sample(range(len(rows)), n)) \
            if n is not None and n < len(rows) else range(len(rows))
        write_jsonl(ctx.dir / layout.ROWS, [rows[i] for i in keep])
        write_jsonl(ctx.dir / layout.ITEMS, [to_item(info.dataset, split, i, rows[i]) for i in keep])
    return Stage(layout.tests(task), run, VERSIONS["tests"])


def eval_stage(method: str, style: str, task: str, trained: str | None) -> Stage:
    from harness.evaluate import answer_limit, evaluate

    def run(ctx: StageContext) -> None:
        tests = ctx.input(layout.tests(task))
        engine = ctx.engine(**(tuned_model(ctx, trained) if trained else {}))
        limit = answer_limit(task, ctx.cfg.preset)
        records = evaluate(engine, task, read_jsonl(tests / layout.ITEMS), tests / layout.ROWS, style, limit,
                           ctx.cfg.preset.scoring, results_file=ctx.dir / layout.LM_EVAL_RESULTS)
        write_jsonl(ctx.dir / layout.RECORDS, records)
    return Stage(layout.evaluation(method, task), run, VERSIONS["eval"])


def confidence_stage(label: str, task: str, trained: str | None) -> Stage:
    """R-Tuning's AP (calculate_ap.py) of a model trained to say whether it is sure: each test answer's
    confidence 0.5 p(answer) + 0.5 P(sure), ranked against the answer's correctness. P(sure): after
    the prompt, the answer and ". Are you sure you accurately answered the question based on your
    internal knowledge? I am", " sure" against " unsure" (first tokens, renormalised). p(answer): MCQA
    the largest option-letter probability (run_MMLU.py); OEQA the geometric mean of the probabilities
    of the answer's first 5 tokens (the code's greedy answer of up to 5 tokens). Correctness is the
    answer's before its question, scored as the run scores."""
    import math

    from harness.evaluate import task_info
    from harness.metrics import average_precision, classify_choice, classify_open, rtuning_answer
    from harness.prompts import LETTERS, RTUNING_QUESTION

    def run(ctx: StageContext) -> None:
        records = read_jsonl(ctx.input(layout.evaluation(label, task)) / layout.RECORDS)
        items = {it["id"]: it for it in read_jsonl(ctx.input(layout.tests(task)) / layout.ITEMS)}
        engine = ctx.engine(**(tuned_model(ctx, trained) if trained else {}))
        scoring, kind = ctx.cfg.preset.scoring, task_info(task).kind
        said = [rtuning_answer(r["answer"]) for r in records]
        sure = engine.option_logprobs([f"{r['prompt']}{a.rstrip('. ')}. {RTUNING_QUESTION} I am"
                                       for r, a in zip(records, said)], [" sure", " unsure"], desc="P(sure)")
        p_sure = [1 / (1 + math.exp(u - s)) for s, u in sure]
        if kind == "choice":
            asked = [items[r["id"]] for r in records]
            letter_lps = knowledge.letter_logprobs(engine, [r["prompt"] for r in records], asked)
            p_answer = [max(knowledge.option_probs(lp)) for lp in letter_lps]
            correct = [classify_choice(a, r["gold"], LETTERS[:len(it["choices"])], scoring.refusal, "wrong")[0]
                       == "correct" for r, a, it in zip(records, said, asked)]
        else:
            tokens = engine.continuation_logprobs([r["prompt"] for r in records], said, desc="p(answer)")
            p_answer = [math.exp(sum(t[:5]) / len(t[:5])) if t else 0.0 for t in tokens]
            correct = [classify_open(a, r["gold"], scoring.correctness, scoring.refusal) == "correct"
                       for r, a in zip(records, said)]
        rows = [{"id": r["id"], "answer": a, "p_answer": pa, "p_sure": ps, "confidence": 0.5 * pa + 0.5 * ps,
                 "correct": c} for r, a, pa, ps, c in zip(records, said, p_answer, p_sure, correct)]
        write_jsonl(ctx.dir / "confidence.jsonl", rows)
        write_json(ctx.dir / layout.AP, {"ap": average_precision([x["confidence"] for x in rows],
                                                                 [x["correct"] for x in rows]),
                                         "n": len(rows), "right": sum(correct)})
    return Stage(layout.confidence(label, task), run, VERSIONS["confidence"])
