"""Performance benchmark (prints figures and writes JSON; not a test, nothing here asserts a time).

    .venv/bin/python ci/bench_perf.py --out results/perf          # ~30 min on 2 CPU cores

Measures, each from a fresh output directory (no cache carried between measurements):
  1. engine: the knowledge query's wall time (prompts, sampling, answer parsing, certainty encoder)
     against the raw engine on the same prompts and batch: transformers `generate(do_sample=True,
     num_return_sequences=n)`, the way a user would sample without the harness, and our engine's
     bare `generate` (the query's overhead over its own engine). Warm, best of two; no cache.
     Tokens/s, questions/s.
  2. methods: wall time of `--methods all` over `--methods craft` (shared stages run once).
  3. scaling: CRaFT's wall time at 100, 200 and 400 train questions (goal: linear growth).
  4. rerun: a second identical bench in the same output directory (seconds, identical leaderboard).
  5. stop: questions/s of evaluation (TriviaQA through lm-eval, the smoke preset's 32 tokens) with
     sequences ending at the task's stop string and without (the same code with the stops dropped),
     whether the records are the same, and questions/s of the knowledge query (the smoke preset's OEQA
     query with the code's 50-token whole answers; it passes no stop, see harness/knowledge/query.py).
Every bench runs in its own process; its peak RSS and per-stage wall times (timings.json) are kept.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _child_bench(spec: dict) -> None:
    """In a child process: one bench with a possibly scaled preset; prints its peak RSS."""
    from harness.bench import bench
    from harness.cli import quiet_libraries
    from harness.run.config import RunConfig
    from harness.run.presets import preset
    quiet_libraries()
    p = preset(spec["preset"])
    if spec.get("pool"):
        pool = spec["pool"]
        n_van, n_idk = int(pool * 0.4), int(pool * 0.1)
        d = {k: replace(getattr(p, k), pool_size=pool, n_van=n_van, n_idk=n_idk,
                        rehearsal_size=max(8, pool // 6)) for k in ("open", "choice")}
        p = replace(p, name=f"{p.name}-pool{pool}", **d)
    cfg = RunConfig(model=spec["model"], preset=p, limit=spec.get("limit"), batch_size=spec["batch_size"],
                    data_dir=spec["data_dir"])
    bench(cfg, spec["methods"], spec["tasks"], Path(spec["out"]))
    print("PEAK_RSS_MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, file=sys.stderr)


def run_bench(spec: dict) -> dict:
    from harness.methods import METHODS
    if spec["methods"] == ["all"]:
        spec = {**spec, "methods": list(METHODS)}
    start = time.time()
    done = subprocess.run([sys.executable, __file__, "_child", json.dumps(spec)], cwd=REPO,
                          capture_output=True, text=True)
    wall = time.time() - start
    if done.returncode != 0:
        sys.exit(f"bench failed ({spec}):\n{done.stderr[-4000:]}")
    rss = [int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_MB")]
    run_dir = next(Path(spec["out"], "runs").iterdir())
    stages = json.loads((run_dir / "timings.json").read_text())
    # Stages reset the kernel's peak-RSS counter (per-stage peaks), so ru_maxrss alone can miss the
    # run's peak: take the larger of it and the stages' own peaks.
    peaks = [v["peak_rss_mb"] for v in stages.values() if v.get("peak_rss_mb")] + rss[-1:]
    return {"wall_s": round(wall, 1), "peak_rss_mb": round(max(peaks)) if peaks else None,
            "stages_s": stages,
            "leaderboard": json.loads(Path(spec["out"], "leaderboard.json").read_text())}


def engine_overhead(model: str, data_dir: str, n_questions: int, n: int, batch_size: int) -> dict:
    """Knowledge query vs raw transformers sampling on the same prompts and batch."""
    import torch

    from harness.knowledge import query as knowledge
    from harness.data.load import load_items
    from harness.engines.protocol import EngineSpec
    from harness.engines.hf import HFEngine
    from harness.data.prompts import open_fewshot

    items = load_items("triviaqa", "train", data_dir)[:n_questions]
    engine = HFEngine(EngineSpec(model=model, batch_size=batch_size))    # bf16, no cache
    encoder = knowledge.load_encoder()
    prompts = [engine.apply_template(open_fewshot(it["question"], multiturn=True)) for it in items]
    kw = dict(temperature=0.7, max_new_tokens=16)
    engine.generate(prompts, n=n, **kw)            # warm-up: the first full pass grows the allocator

    def best_of_two(fn):
        times = []
        for _ in range(2):
            start = time.time()
            result = fn()
            times.append(time.time() - start)
        return result, min(times)

    from harness.run.presets import PRESETS
    d = replace(PRESETS["smoke"].open, n_samples=n, temperature=0.7, query_max_new_tokens=16, fewshot_multiturn=True)
    rows, t_query = best_of_two(lambda: knowledge.query_open(engine, items, d, 0, PRESETS["smoke"].scoring,
                                                             encoder=encoder))

    tok, hf_model = engine.tok, engine.model
    generated = 0
    start = time.time()
    with torch.inference_mode():
        for idx in engine._batches(prompts, max(1, batch_size // n)):
            enc = engine._encode([prompts[i] for i in idx])
            out = hf_model.generate(**enc, do_sample=True, top_p=1.0, top_k=0, num_return_sequences=n,
                                    pad_token_id=tok.pad_token_id, **kw)
            new = out[:, enc["input_ids"].shape[1]:]
            generated += int((new != tok.pad_token_id).sum())
    t_raw = time.time() - start

    ours, t_engine = best_of_two(lambda: engine.generate(prompts, n=n, seed=0, **kw))
    ours_tokens = sum(len(tok.encode(s, add_special_tokens=False)) + 1 for per in ours for s in per)
    return {"questions": n_questions, "samples_per_question": n, "batch_size": batch_size,
            "raw_hf_generate_s": round(t_raw, 2), "engine_generate_s": round(t_engine, 2),
            "knowledge_query_s": round(t_query, 2),
            "query_over_raw": round(t_query / t_raw, 3),
            "query_over_engine_generate": round(t_query / t_engine, 3),
            "raw_tokens_per_s": round(generated / t_raw, 1),
            "engine_tokens_per_s": round(ours_tokens / t_engine, 1),
            "query_questions_per_s": round(len(rows) / t_query, 2),
            "raw_questions_per_s": round(n_questions / t_raw, 2)}


class NoStop:
    """An engine with its stop strings dropped: the same code path, generating to the token budget."""
    def __init__(self, engine):
        self.engine = engine

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def generate(self, prompts, *args, stop=(), **kwargs):
        return self.engine.generate(prompts, *args, **kwargs)


def stop_savings(model: str, data_dir: str, n_questions: int, batch_size: int) -> dict:
    """Questions/s of evaluation with and without stop strings, and of the knowledge query."""
    import tempfile
    from harness.knowledge import query as knowledge
    from harness.run.presets import PRESETS
    from harness.data.load import load_items, load_rows
    from harness.engines.hf import HFEngine
    from harness.engines.protocol import EngineSpec
    from harness.scoring.evaluate import evaluate
    from harness.run.io import write_jsonl
    smoke = PRESETS["smoke"]
    d = replace(smoke.open, query_max_new_tokens=50, query_answer="whole")
    engine = HFEngine(EngineSpec(model=model, batch_size=batch_size))    # bf16, no cache
    encoder = knowledge.load_encoder()
    pool = load_items("triviaqa", "train", data_dir)[:n_questions]
    n_eval = 4 * n_questions                     # greedy answers are quick: more questions, less noise
    tests = load_items("triviaqa", "validation", data_dir)[:n_eval]
    report = {"query": {"questions": n_questions}, "evaluation": {"questions": n_eval}}
    with tempfile.TemporaryDirectory() as tmp:
        rows_file = Path(tmp) / "rows.jsonl"
        write_jsonl(rows_file, load_rows("triviaqa", "validation", data_dir)[:n_eval])
        knowledge.query_open(engine, pool[:4], d, 0, smoke.scoring, encoder=encoder)      # warm-up
        start = time.time()
        knowledge.query_open(engine, pool, d, 0, smoke.scoring, encoder=encoder)
        report["query"]["questions_per_s"] = round(n_questions / (time.time() - start), 3)
        warm = Path(tmp) / "warm.jsonl"
        write_jsonl(warm, load_rows("triviaqa", "validation", data_dir)[:4])
        evaluate(engine, "triviaqa", tests[:4], warm, "refuse", 32, smoke.scoring)           # warm-up
        kept = {}
        for name, eng in (("without_stop", NoStop(engine)), ("with_stop", engine)):
            start = time.time()
            records = evaluate(eng, "triviaqa", tests, rows_file, "refuse", 32, smoke.scoring)
            report["evaluation"][f"{name}_questions_per_s"] = round(n_eval / (time.time() - start), 3)
            kept[name] = [(r["answer"], r["class"]) for r in records]
    r = report["evaluation"]
    r["same_records"] = kept["with_stop"] == kept["without_stop"]
    r["speedup"] = round(r["with_stop_questions_per_s"] / r["without_stop_questions_per_s"], 2)
    return report


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "_child":
        _child_bench(json.loads(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/perf")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--data-dir", default=os.environ.get("HARNESS_DATA_DIR", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--limit", type=int, default=50, help="test questions per task in the bench runs")
    ap.add_argument("--only", default="engine,methods,scaling,rerun,stop")
    args = ap.parse_args()
    from harness.engines.models import resolve
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        sys.exit(f"{out} is not empty: the benchmark measures from scratch; give a new --out")
    out.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(","))
    common = {"model": args.model, "data_dir": args.data_dir, "batch_size": args.batch_size, "preset": "smoke"}
    report: dict = {"machine": {"cpus": os.cpu_count()}, "batch_size": args.batch_size}

    def save() -> None:
        (out / "perf.json").write_text(json.dumps(report, indent=2) + "\n")

    if "engine" in only:
        report["engine"] = engine_overhead(resolve(args.model), args.data_dir, 64, 6, args.batch_size)
        print("engine:", json.dumps(report["engine"]), flush=True)
        save()
    if "methods" in only:
        runs = {}
        for name, methods in (("craft", ["craft"]), ("all", ["all"])):
            runs[name] = run_bench({**common, "methods": methods, "tasks": ["triviaqa", "mmlu"],
                                    "limit": args.limit, "out": str(out / f"methods-{name}")})
            print(f"methods {name}: {runs[name]['wall_s']} s, peak {runs[name]['peak_rss_mb']} MB", flush=True)
        report["methods"] = {k: {kk: vv for kk, vv in v.items() if kk != "leaderboard"} for k, v in runs.items()}
        from harness.methods import METHODS
        report["methods"]["n_methods_all"] = len(METHODS)
        report["methods"]["all_over_craft"] = round(runs["all"]["wall_s"] / runs["craft"]["wall_s"], 2)
        print("all / craft wall time:", report["methods"]["all_over_craft"], flush=True)
        save()
    if "rerun" in only and "methods" in only:
        again = run_bench({**common, "methods": ["craft"], "tasks": ["triviaqa", "mmlu"],
                           "limit": args.limit, "out": str(out / "methods-craft")})
        report["rerun"] = {"wall_s": again["wall_s"], "stages_run": again["stages_s"],
                           "identical_leaderboard": again["leaderboard"] == runs["craft"]["leaderboard"]}
        print("rerun:", json.dumps(report["rerun"]), flush=True)
        save()
    if "scaling" in only:
        scaling = {}
        for pool in (100, 200, 400):
            r = run_bench({**common, "pool": pool, "methods": ["craft"], "tasks": ["triviaqa"], "limit": 20,
                           "out": str(out / f"scaling-{pool}")})
            scaling[str(pool)] = {k: v for k, v in r.items() if k != "leaderboard"}
            print(f"scaling {pool} train questions: {r['wall_s']} s", flush=True)
        t = {p: scaling[p]["wall_s"] for p in scaling}
        scaling["step_100_200_s"] = round(t["200"] - t["100"], 1)
        scaling["step_200_400_s"] = round(t["400"] - t["200"], 1)
        # Linear growth: the second step (200 more questions) costs twice the first (100 more).
        scaling["linearity"] = round(scaling["step_200_400_s"] / (2 * scaling["step_100_200_s"]), 2) \
            if scaling["step_100_200_s"] > 0 else None
        report["scaling"] = scaling
        print("scaling steps:", scaling["step_100_200_s"], scaling["step_200_400_s"],
              "linearity (1.0 = linear):", scaling["linearity"], flush=True)
        save()
    if "stop" in only:
        report["stop"] = stop_savings(resolve(args.model), args.data_dir, 64, args.batch_size)
        print("stop strings:", json.dumps(report["stop"]), flush=True)
        save()
    print(f"wrote {out / 'perf.json'}")


if __name__ == "__main__":
    main()
