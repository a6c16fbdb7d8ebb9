"""What M0 knows of the geo tasks, by popularity stratum: the knowledge query of the geo-smoke preset
(OEQA: samples at its temperature, correctness mu; MCQA: p(gold) over the letters) on every training
city, printed per stratum (share with mu >= 0.51, mean mu) so the pools' population mix can be chosen.
Usage: python ci/geo_pilot.py [--preset geo-smoke] [--limit N] [--json OUT.json]"""
import argparse
import json
import time
from collections import defaultdict

from harness.run.presets import preset as get_preset
from harness.data.load import load_items
from harness.engines.protocol import EngineSpec
from harness.engines.registry import make_engine
from harness.knowledge.query import query_choice, query_open
from harness.engines.models import DEFAULT_MODEL, resolve


def by_stratum(items, rows, known):
    out = defaultdict(list)
    for it, r in zip(items, rows):
        out[it["stratum"]].append(r["correctness"])
    return {s: {"n": len(v), "known": sum(known(x) for x in v) / len(v), "mean_mu": sum(v) / len(v)}
            for s, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="geo-smoke")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    p = get_preset(args.preset)
    engine = make_engine("hf", EngineSpec(model=resolve(DEFAULT_MODEL), dtype="bfloat16", batch_size=32))
    report = {}
    for kind, d in (("open", p.open), ("choice", p.choice)):
        items = load_items(d.pool_dataset, d.pool_split, None)[:args.limit]
        start = time.time()
        if kind == "open":
            rows = query_open(engine, items, d, 0, p.scoring)
        else:
            rows = query_choice(engine, items, [], d, p.scoring)
        strata = by_stratum(items, rows, lambda mu: mu >= d.tau_hi)
        report[kind] = {"questions": len(items), "seconds": round(time.time() - start, 1),
                        "known": sum(r["correctness"] >= d.tau_hi for r in rows) / len(rows),
                        "idk_candidates": sum(r["correctness"] <= d.tau_lo for r in rows) / len(rows),
                        "strata": strata}
        print(kind, json.dumps(report[kind], indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
