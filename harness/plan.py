"""`harness plan`: before spending compute, query a small seeded sample of each training pool with the
preset's settings and say what the bench would build from the whole pool: the correctness and
certainty distributions, the expected candidate sets and shortfalls of each method, what makes a
comparison degenerate, and the bench's wall time from the measured throughput."""
from __future__ import annotations

import math
import random
import time
from dataclasses import replace
from pathlib import Path

from harness.knowledge import construct, query as knowledge

from harness.run import layout

from harness.dryrun import optimizer_steps
from harness.schedule import check_inputs, checked, preflight, resolve_model, schedule
from harness.run.config import RunConfig
from harness.data.load import load_items, load_rows
from harness.engines.protocol import EngineSpec
from harness.engines.registry import engine_entry, make_engine
from harness.scoring.evaluate import answer_limit, task_info, test_split
from harness.methods import method, unsupported
from harness.run.paths import data_dir
from harness.data.prompts import question_text
from harness.run import graph
from harness.run.stage import unique
from harness.stages.knowledge import pool_rows
from harness.tasks import expand


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a proportion k/n (sound at k = 0 and k = n)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def histogram(values: list[float], bins: int = 10) -> list[int]:
    """Counts in [0, 0.1), [0.1, 0.2), ... [0.9, 1.0]."""
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int(v * bins))] += 1
    return counts


def quantiles(values: list[float]) -> list[float]:
    """min, 25%, median, 75%, max."""
    s = sorted(values)
    return [s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))] for q in (0, 0.25, 0.5, 0.75, 1)] if s else []


def expected(k: int, n: int, pool: int) -> dict:
    """A pilot count scaled to the pool, with the Wilson interval scaled alike."""
    lo, hi = wilson(k, n)
    return {"pilot": k, "expected": round(pool * k / n) if n else 0,
            "lo": math.floor(pool * lo), "hi": math.ceil(pool * hi)}


def analyse(rows: list[dict], d, pool: int, methods: list[str], kind: str) -> dict:
    """What the pilot's knowledge table says about the whole pool under the domain's settings."""
    p = construct.params(d)
    van, idk = construct.candidates(rows, p.thresholds)
    n = len(rows)
    sets = {"vanilla": expected(len(van), n, pool), "idk": expected(len(idk), n, pool)}
    # The flow filter keeps idk candidates whose correctness falls under rehearsal (d_mu < 0; the MCQA
    # code also d_mu == 0): at mu = 0 nothing can fall, so without rehearsing, the pilot bounds the
    # flow methods' idk set by the idk candidates with mu > 0.
    can_fall = [r for r in idk if d.keep_zero_flow or r["correctness"] > 0]
    flow_bound = expected(len(can_fall), n, pool)
    report_flow = {"idk_can_fall": flow_bound}
    mus = [r["correctness"] for r in rows]
    report = {"kind": kind, "pilot": n, "pool": pool, "asked": {"vanilla": d.n_van, "idk": d.n_idk},
              "correctness_histogram": histogram(mus), "certainty_quantiles": quantiles([r["certainty"] for r in rows]),
              "candidates": sets, **report_flow, "methods": {}, "warnings": []}
    warn = report["warnings"].append
    half = sum(1 for mu in mus if p.thresholds.lo < mu < p.thresholds.hi)
    if half:
        warn(f"{half} of {n} pilot questions ({100 * half / n:.0f}%) have mu between tau_lo={p.thresholds.lo} and "
             f"tau_hi={p.thresholds.hi} and fall in neither set"
             + (f" (with {d.n_samples} samples, mu = 0.5 is possible)" if kind == "open" and d.n_samples % 2 == 0 else ""))
    for m in methods:
        table = method(m).table
        if not method(m).trains or unsupported(m, kind):
            continue
        if table == "pool":
            cand = {"vanilla": pool, "idk": 0}
            asked = {"vanilla": d.n_van + d.n_idk, "idk": 0}
        else:
            cand = {k: v["expected"] for k, v in sets.items()}
            asked = {"vanilla": d.n_van, "idk": d.n_idk}
        note = ""
        if table == "answers":
            cand, note = _answers_candidates(m, rows, d, n, pool, cand)
        if table == "flow":
            cand["idk"] = flow_bound["expected"]
            note = ("idk: at most the idk candidates that can fall under rehearsal (mu > 0), "
                    f"95% {flow_bound['lo']}-{flow_bound['hi']}; the pilot does not rehearse, so the flow "
                    "filter keeps some part of these")
        short = {k: max(0, asked[k] - cand[k]) for k in cand}
        report["methods"][m] = {"table": table, "candidates": cand, "asked": asked, "shortfall": short, "note": note}
        if cand["vanilla"] + cand["idk"] == 0:
            warn(f"{m}: no candidate at all: the method would train on nothing and be scored as M0 (UNTRAINED)")
            continue
        for k in ("vanilla", "idk"):
            if asked[k] and cand[k] == 0:
                warn(f"{m}: no {k} candidate expected: its training set has no {k} rows")
            elif asked[k] and cand[k] < 2 * asked[k] and table != "pool":
                warn(f"{m}: ~{cand[k]} {k} candidates for {asked[k]} drawn (fewer than twice): certainty ranking "
                     f"and random draw pick nearly the same questions, so methods that differ only there coincide")
    return report


def _answers_candidates(m: str, rows: list[dict], d, n: int, pool: int, fallback: dict) -> tuple[dict, str]:
    """The candidate sets of a method that splits by M0's answers, from its own `select` on the pilot:
    each row's right samples are its mu times the sample count (their order does not change the split),
    and its greedy answer, which the pilot does not generate, stands in as right iff mu >= 0.5. Open
    domain only (the MCQA pilot has no samples); elsewhere the correctness sets stand in."""
    if d.n_samples < 1 or any("samples" not in r for r in rows):
        return fallback, ("split by M0's greedy answer or its right samples: the correctness sets stand in "
                          "for it here")
    table = [{**r, "sample_correct": [i < round(r["correctness"] * len(r["samples"])) for i in range(len(r["samples"]))],
              "greedy_correct": int(r["correctness"] >= 0.5), "greedy": r["samples"][0] if r["samples"] else "",
              "gold": r.get("gold", "")} for r in rows]
    try:
        sel = method(m).select(table, construct.params(d), random.Random(0))
    except (KeyError, TypeError, ValueError, IndexError):
        return fallback, ("split by M0's greedy answer or its right samples: the correctness sets stand in "
                          "for it here")
    cand = {"vanilla": expected(sel.n_van_candidates, n, pool)["expected"],
            "idk": expected(sel.n_idk_candidates, n, pool)["expected"]}
    return cand, ("the method's own split on the pilot's samples (its greedy answer stands in as right iff "
                  "mu >= 0.5)")


def _pilot_items(cfg: RunConfig, kind: str, sample: int) -> tuple[list[dict], int]:
    d = cfg.domain(kind)
    items = load_items(d.pool_dataset, d.pool_split, data_dir(cfg.data_dir))
    pool = pool_rows(items, d.pool_size, cfg.seed)
    pick = sorted(random.Random(cfg.seed).sample(range(len(pool)), min(sample, len(pool))))
    return [pool[i] for i in pick], len(pool)


def _query(engine, cfg: RunConfig, kind: str, items: list[dict]) -> tuple[list[dict], float]:
    """M0's knowledge table of the pilot, and the seconds per question of the query (timed after a
    two-question warm-up, so the certainty encoder's loading is not counted per question)."""
    d, scoring = cfg.domain(kind), cfg.preset.scoring
    shots = load_items("mmlu", d.shot_split, data_dir(cfg.data_dir)) if kind == "choice" and d.n_shot else []

    def query(batch):
        if kind == "open":
            return knowledge.query_open(engine, batch, d, cfg.seed, scoring)
        return knowledge.query_choice(engine, batch, shots, d, scoring)
    query(items[:2])
    start = time.time()
    rows = query(items)
    return rows, (time.time() - start) / len(items)


def _eval_rate(engine, cfg: RunConfig, kind: str, items: list[dict]) -> float:
    """Greedy test-time answers per second (the evaluation's work), on pilot questions."""
    p = cfg.preset
    limit = p.eval_max_new_tokens_open if kind == "open" else p.eval_max_new_tokens_choice
    prompts = [engine.apply_template(question_text(it, "refuse", p.scoring.choice_prompt)) for it in items]
    engine.generate(prompts[:2], n=1, temperature=0.0, max_new_tokens=limit, desc=None)    # warm-up
    start = time.time()
    engine.generate(prompts, n=1, temperature=0.0, max_new_tokens=limit, desc="pilot: evaluation speed")
    return len(prompts) / max(time.time() - start, 1e-9)


def _step_seconds(cfg: RunConfig, base: str, kind: str, items: list[dict], work: Path) -> float | None:
    """Seconds per optimizer step of the method SFT (one step on one global batch of pilot rows,
    the trainer's own time, model loading excluded); None where the engine has no model."""
    from harness.training.sft import train
    if not engine_entry(cfg.engine).loads_models:
        return None
    sft = cfg.domain(kind).sft
    rows = [{"id": it["id"], "prompt": question_text(it, "refuse", cfg.preset.scoring.choice_prompt),
             "target": it["answer"]} for it in items][:sft.batch_size * sft.grad_accum]
    report = train(base, rows, replace(sft, epochs=1), work / f"{kind}-sft", seed=cfg.seed,
                   bf16=cfg.dtype == "bfloat16", trust_remote_code=cfg.trust_remote_code,
                   prompt_style=cfg.prompt_style)
    return report["train_seconds"] / max(1, report["steps"])


def estimate(cfg: RunConfig, methods: list[str], tasks: list[str], reports: dict) -> dict:
    """Seconds of the whole bench by part, from the pilot's measured rates."""
    parts = {}
    for kind, r in reports.items():
        d, names = cfg.domain(kind), {s.name for m in methods if not unsupported(m, kind) for s in method(m).stages(kind)}
        per_q = r["seconds"]["query_per_question"]
        queries = sum(name in names for name in (layout.query(kind), layout.query(kind, rehearsed=True)))
        parts[f"{kind}: knowledge queries ({queries} x {r['pool']} questions)"] = queries * r["pool"] * per_q
        step = r["seconds"]["sft_step"]
        if step is None:
            parts[f"{kind}: SFT not measured (the engine has no model to train)"] = 0
            continue
        steps = len(cfg.seeds) * sum(optimizer_steps(sum(min(v["asked"][k], v["candidates"][k]) for k in v["asked"]),
                                                     d.sft) for v in r["methods"].values())
        if layout.rehearse(kind) in names:
            steps += optimizer_steps(min(d.rehearsal_size, r["pool"]), d.rehearsal_sft)
        parts[f"{kind}: SFT (~{steps} optimizer steps)"] = steps * step
    seeds = [cfg.label_seed(s) for s in cfg.seeds]
    stages = schedule(methods, tasks, seeds)
    n_evals = {t: sum(1 for s in stages if s.name.startswith("eval/") and s.name.endswith(f"/{t}")) for t in tasks}
    loads = sum(1 for s in stages if layout.parse_label(s.name.split("/")[-1])[0] in (
        "query_m0", "query_rehearsed", "rehearse", "crss", "train")) + max(n_evals.values())
    parts[f"model loading (~{loads} loads)"] = loads * max(r["seconds"]["load"] for r in reports.values())
    for t in tasks:
        if task_info(t).kind in reports:
            n, seconds = _test_seconds(cfg, t, reports)
            parts[f"evaluation: {t} ({n_evals[t]} models x {n} questions)"] = n_evals[t] * seconds
    return {k: round(v) for k, v in parts.items()}


def _test_seconds(cfg: RunConfig, t: str, reports: dict) -> tuple[int, float]:
    """A task's test questions and the seconds one model takes to answer them."""
    kind = task_info(t).kind
    n = cfg.test_size(t) or len(load_rows(task_info(t).dataset, test_split(t, cfg.preset.scoring), data_dir(cfg.data_dir)))
    # the pilot's rate is for the short answers of its domain; a longer answer (a worked GSM8K
    # answer) takes about as many times longer as it may have tokens
    stretch = max(1.0, answer_limit(t, cfg.preset) / (cfg.preset.eval_max_new_tokens_open if kind == "open"
                                                      else cfg.preset.eval_max_new_tokens_choice))
    return n, n / reports[kind]["eval_rate"] * stretch


def stage_seconds(cfg: RunConfig, methods: list[str], tasks: list[str], reports: dict) -> dict[str, float]:
    """Each stage's seconds from the pilot's measured rates (queries, SFT steps, answers per second);
    the stages that load no model, or only score, count as none."""
    seeds, out = [cfg.label_seed(s) for s in cfg.seeds], {}
    for kind, r in reports.items():
        d, step = cfg.domain(kind), r["seconds"]["sft_step"] or 0.0
        out[layout.query(kind)] = out[layout.query(kind, True)] = r["pool"] * r["seconds"]["query_per_question"]
        out[layout.rehearse(kind)] = optimizer_steps(min(d.rehearsal_size, r["pool"]), d.rehearsal_sft) * step
        for m, v in r["methods"].items():
            rows = sum(min(v["asked"][k], v["candidates"][k]) for k in v["asked"])
            for stage in method(m).training(kind):
                out.update({layout.seeded(stage.name, s): optimizer_steps(rows, d.sft) * step for s in seeds})
    for t in tasks:
        if task_info(t).kind in reports:
            seconds = _test_seconds(cfg, t, reports)[1]
            out.update({s.name: seconds for s in schedule(methods, [t], seeds)
                        if s.name.startswith("eval/")})
    return out


def _measure(cfg: RunConfig, base: str, pilots: dict) -> dict:
    """M0 loaded once: each domain's pilot knowledge table, query seconds per question and greedy
    answers per second, and the load's seconds. No generation cache: the pilot measures speed."""
    start = time.time()
    engine = make_engine(cfg.engine, EngineSpec(model=base, dtype=cfg.dtype, batch_size=cfg.batch_size,
                                                trust_remote_code=cfg.trust_remote_code,
                                                prompt_style=cfg.prompt_style))
    load = time.time() - start
    try:
        return {kind: (*_query(engine, cfg, kind, items), _eval_rate(engine, cfg, kind, items), load)
                for kind, (items, _) in pilots.items()}
    finally:
        engine.close()


def plan(cfg: RunConfig, methods: list[str], tasks: list[str], sample: int = 64, workers: int = 1) -> dict:
    """Query `sample` pool questions per domain with M0 and report what the full bench would build."""
    import tempfile
    from harness.run.stage import release_memory
    tasks = expand(tasks)
    methods = checked(methods, tasks)
    preflight(cfg, [], tasks)             # QLoRA without CUDA; the pilot trains nothing an engine lacks
    check_inputs(cfg, methods, tasks)     # the pools too
    base = resolve_model(cfg)
    pilots = {kind: _pilot_items(cfg, kind, sample) for kind in sorted({task_info(t).kind for t in tasks})}
    measured = _measure(cfg, base, pilots)
    release_memory()                      # the query model goes before the SFT pilot loads its own
    reports = {}
    with tempfile.TemporaryDirectory(prefix="harness-plan-") as work:
        for kind, (items, pool) in pilots.items():
            rows, per_question, rate, load = measured[kind]
            report = analyse(rows, cfg.domain(kind), pool, methods, kind)
            report["seconds"] = {"load": round(load, 2), "query_per_question": round(per_question, 4),
                                 "sft_step": _step_seconds(cfg, base, kind, items, Path(work))}
            report["eval_rate"] = round(rate, 3)
            reports[kind] = report
    parts = estimate(cfg, methods, tasks, reports)
    stages = unique(schedule(methods, tasks, [cfg.label_seed(s) for s in cfg.seeds]))
    seconds = stage_seconds(cfg, methods, tasks, reports)
    return {"preset": cfg.preset.name, "model": cfg.model, "sample": sample, "domains": reports,
            "estimate_seconds": parts, "total_seconds": sum(parts.values()), "workers": workers,
            "schedule": graph.schedule_lines(stages, seconds, workers, "the pilot's measured rates on this machine")}


def lines(result: dict) -> list[str]:
    """The plan as text."""
    out = [f"plan: {result['preset']} preset, model {result['model']}, pilot of {result['sample']} questions per domain"]
    for kind, r in result["domains"].items():
        hist = " ".join(str(c) for c in r["correctness_histogram"])
        q = ", ".join(f"{v:.3g}" for v in r["certainty_quantiles"])
        out += [f"{kind}: pool {r['pool']}, pilot {r['pilot']} queried at {r['seconds']['query_per_question']:.2f} s "
                f"a question; greedy answers at {r['eval_rate']:.1f}/s",
                f"  correctness mu, counts per 0.1 bin from 0 to 1: {hist}",
                f"  certainty (min, 25%, median, 75%, max): {q}"]
        for k, c in r["candidates"].items():
            out.append(f"  {k} candidates: {c['pilot']} of {r['pilot']} in the pilot -> ~{c['expected']} in the pool "
                       f"[95%: {c['lo']}, {c['hi']}]; asked {r['asked'][k]}")
        for m, v in r["methods"].items():
            short = v["shortfall"]
            out.append(f"  {m}: candidates ~{v['candidates']['vanilla']}/{v['candidates']['idk']} for "
                       f"{v['asked']['vanilla']}/{v['asked']['idk']} asked (vanilla/idk); expected shortfall "
                       f"{short['vanilla']}/{short['idk']}" + (f" ({v['note']})" if v["note"] else ""))
        out += [f"  warning: {w}" for w in r["warnings"]]
    out.append("estimated wall time of the bench (from the pilot's measured rates, on this machine as loaded "
               "now):")
    out += [f"  {part}: ~{s / 60:.1f} min" for part, s in result["estimate_seconds"].items()]
    out.append(f"  total: ~{result['total_seconds'] / 60:.0f} min")
    return out + result["schedule"]
