"""What each method's training set holds, as rows the regression gate can compare (OUT/training_sets.json).

A method's rule decides which questions keep their gold answer and which are relabelled: a bug in the
rule (certainty sorted the wrong way, the flow filter inverted, relabelled rows keeping the gold) changes
the set long before it changes a test number a 135M model can resolve. So per (method, domain) the
row holds M0's mean correctness and certainty over the set's vanilla and idk rows, their mean knowledge
flow (mu after rehearsal - mu, where the run rehearsed), and the share of each part whose target is a
refusal (harness.scoring.classify.is_refusal), each with a 95% interval over the set's rows. The row's task is
`train:<pool dataset>`, so one baseline holds the training sets of every leg beside its test rows.
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path

from harness.run import layout
from harness.run.io import read_json, read_jsonl, write_json
from harness.scoring.classify import is_refusal
from harness.scoring.metrics import wilson

PARTS = ("van", "idk")
STATS = ("correctness", "certainty", "flow", "refusal")
METRICS = tuple(f"{part}_{stat}" for part in PARTS for stat in STATS)
LABELS = {"van": "vanilla", "idk": "idk"}
OUTPUT = "training_sets.json"
PREFIX = "train:"


def mean_interval(values: list[float], z: float = 1.959964) -> tuple[float, float, float]:
    """Mean and its normal 95% interval; the half-width is at least 1/(2n), so a set whose rows all agree
    (a share of 1.0, a constant mu) still has a tolerance, as a share of n rows moves in steps of 1/n."""
    m = statistics.fmean(values)
    half = z * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    half = max(half, 1 / (2 * len(values)))
    return m, m - half, m + half


def share_interval(flags: list[bool]) -> tuple[float, float, float]:
    """A share and its 95% Wilson interval."""
    lo, hi = wilson(sum(flags), len(flags))
    return sum(flags) / len(flags), lo, hi


def summary(sft_rows: list[dict], m0: dict[str, dict], rehearsed: dict[str, dict] | None) -> dict:
    """The statistics of one training set: `<part>_<stat>` with `_lo` / `_hi`, and n per part."""
    out: dict = {}
    for part in PARTS:
        rows = [r for r in sft_rows if r.get("label") == LABELS[part]]
        out[f"n_{part}"] = len(rows)
        if not rows:
            continue
        known = [m0[r["id"]] for r in rows if r["id"] in m0]
        values = {"correctness": [k["correctness"] for k in known], "certainty": [k["certainty"] for k in known]}
        if rehearsed is not None:
            values["flow"] = [rehearsed[r["id"]]["correctness"] - m0[r["id"]]["correctness"]
                              for r in rows if r["id"] in m0 and r["id"] in rehearsed]
        for stat, vs in values.items():
            if vs:
                m, lo, hi = mean_interval(vs)
                out.update({f"{part}_{stat}": m, f"{part}_{stat}_lo": lo, f"{part}_{stat}_hi": hi})
        targets = [r["target"] for r in rows if isinstance(r.get("target"), str)]
        if targets:
            m, lo, hi = share_interval([is_refusal(t) for t in targets])
            out.update({f"{part}_refusal": m, f"{part}_refusal_lo": lo, f"{part}_refusal_hi": hi})
    return out


def _table(run_dir: Path, name: str) -> dict[str, dict] | None:
    path = run_dir / name / layout.KNOWLEDGE
    return {r["id"]: r for r in read_jsonl(path)} if path.exists() else None


def rows(run_dir: Path, model: str, preset: str, methods: list[str]) -> list[dict]:
    """One row per (method, domain) whose build stage finished in `run_dir`."""
    preset_config = read_json(run_dir / layout.CONFIG)["config"]["preset"]
    out = []
    for kind in ("open", "choice"):
        m0 = _table(run_dir, layout.query(kind))
        if m0 is None:
            continue
        rehearsed = _table(run_dir, layout.query(kind, rehearsed=True))
        pool = preset_config[kind]["pool_dataset"]
        for method in methods:
            build = run_dir / layout.build(kind, method)
            if not (build / layout.DONE).exists():
                continue
            stats = summary(read_jsonl(build / layout.SFT_DATA), m0, rehearsed)
            out.append({"model": model, "method": method, "task": PREFIX + pool, "domain": kind, **stats,
                        "preset": preset, "run": run_dir.name})
    return out


def write(trs: list[dict], out: Path) -> None:
    write_json(out / OUTPUT, trs)
