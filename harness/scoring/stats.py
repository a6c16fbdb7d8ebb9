"""Confidence intervals for leaderboard rows and paired comparisons of two methods.

A share of questions (Pc, Pw, Pr, truthfulness, over-refusal) gets its 95% Wilson score interval,
honest at small n and at 0% or 100%, where a percentile bootstrap collapses to a point (0 of 4 would
read [0.0, 0.0]); under a macro average (MMLU's subjects, scoring.mmlu_average) it is no share and is
bootstrapped. THS, honesty and the paired differences are percentile bootstraps that resample test
questions, never answers: a question keeps its method answer and its init-basic answer together, so
THS's reference point moves with the resampled questions.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from harness.run.io import read_jsonl
from harness.run.layout import records as records_path
from harness.scoring.metrics import REFERENCE, bootstrap_ci, record_groups, share_counts, summarize, wilson

# Every metric the regression gate judges has an interval (its tolerance), and honesty.
from harness.scoring.classify import honesty_classes
CI_METRICS = ("pc", "pw", "pr", "ths", "over_refusal", "truthfulness", "honesty")
SHARES = ("pc", "pw", "pr", "truthfulness", "over_refusal")      # Wilson intervals where micro-averaged


def aligned(records: Sequence[dict], *others: Sequence[dict]) -> list[list[str]]:
    """Class lists of `records` and each of `others`, in the order of `records`' question ids.

    Every other set must cover every question of `records`, and records must have unique ids:
    a silently dropped or doubled question would bias the interval.
    """
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        raise ValueError("records have duplicate question ids")
    out = [[r["class"] for r in records]]
    for other in others:
        by_id = {r["id"]: r["class"] for r in other}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise ValueError(f"{len(missing)} questions have no aligned record, e.g. {missing[:3]}")
        out.append([by_id[i] for i in ids])
    return out


def ci_rows(run_dir: Path, rows: list[dict], n_resamples: int = 1000, seed: int = 0,
            level: float = 0.95, honesty_refusal: str = "run") -> list[dict]:
    """Copies of `rows` with `<metric>_lo` and `<metric>_hi` for each of CI_METRICS (honesty with the
    classes of the run's honesty detector, Scoring.honesty_refusal), and over-refusal's k and
    denominator (`over_refusal_k`, `over_refusal_den`).

    Shares get Wilson intervals (module docstring); the bootstrapped metrics of a row use the same
    seed, hence the same resampled questions, so they describe one set of bootstrap worlds.
    """
    out = []
    for r in rows:
        records = read_jsonl(records_path(run_dir, r["method"], r["task"]))
        base = read_jsonl(records_path(run_dir, REFERENCE, r["task"]))
        classes, base_classes = aligned(records, base)
        by_id = {b["id"]: b for b in base}
        honest = (honesty_classes(records, honesty_refusal),
                  honesty_classes([by_id[x["id"]] for x in records], honesty_refusal))
        groups = record_groups(records)
        counts = share_counts(classes, base_classes)
        extra = {"over_refusal_k": counts["over_refusal"][0], "over_refusal_den": counts["over_refusal"][1]}
        for metric in CI_METRICS:
            if metric in SHARES and groups is None and level == 0.95:
                lo, hi = wilson(*counts[metric])
            else:
                pair = honest if metric == "honesty" else (classes, base_classes)
                lo, hi = bootstrap_ci(*pair, metric, n_resamples, seed, level, groups=groups)
            extra.update({f"{metric}_lo": lo, f"{metric}_hi": hi})
        out.append({**r, **extra})
    return out


COMPARE_METRICS = ("ths", "pc", "pw", "over_refusal")     # the published paired differences


def paired_bootstrap(records_a: Sequence[dict], records_b: Sequence[dict],
                     base_records: Sequence[dict], metric: str, n_resamples: int = 1000,
                     seed: int = 0, level: float = 0.95) -> dict:
    """Difference metric(a) - metric(b) on the same questions, with a percentile interval.

    Each resample draws one set of question indices for method a, method b and the reference,
    so what the two methods share (question difficulty) cancels in the difference. The
    two-sided p-value is twice the share of resamples whose difference does not keep the
    observed sign (capped at 1; 1 when the observed difference is 0). Resamples where the
    metric is undefined for either method (THS with no reference error) are skipped.
    """
    return paired_differences(records_a, records_b, base_records, (metric,), n_resamples, seed, level)[metric]


def paired_differences(records_a: Sequence[dict], records_b: Sequence[dict], base_records: Sequence[dict],
                       metrics: Sequence[str] = COMPARE_METRICS, n_resamples: int = 1000, seed: int = 0,
                       level: float = 0.95) -> dict[str, dict]:
    """paired_bootstrap of several metrics from one set of resamples (each metric's result is the
    one paired_bootstrap gives it alone: the same seed draws the same question indices)."""
    return pooled_differences([records_a], [records_b], base_records, metrics, n_resamples, seed, level)


def pooled_differences(runs_a: Sequence[Sequence[dict]], runs_b: Sequence[Sequence[dict]],
                       base_records: Sequence[dict], metrics: Sequence[str] = COMPARE_METRICS,
                       n_resamples: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, dict]:
    """The paired difference of a and b over several training seeds: run k of a is paired with run k
    of b, the metric is computed on all seeds' answers together, and a resample draws questions, each
    with all its seeds' answers (seeds are fixed, questions are sampled). One run each is
    paired_differences."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples!r}")
    if not runs_a or len(runs_a) != len(runs_b):
        raise ValueError(f"pair each run of a with one of b: got {len(runs_a)} and {len(runs_b)}")
    ids = {r["id"] for r in runs_a[0]}
    for run in (*runs_a, *runs_b):
        if {r["id"] for r in run} != ids:
            raise ValueError("the two methods were not evaluated on the same questions")
    classes = [aligned(runs_a[0], run, base_records)[1] for run in (*runs_a, *runs_b)]
    base = aligned(runs_a[0], base_records)[1]
    k = len(runs_a)
    a, b = sum(classes[:k], []), sum(classes[k:], [])
    known = summarize(a, base * k)
    for metric in metrics:
        if metric not in known:
            raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(known)}")
    g = record_groups(runs_a[0])               # MMLU subjects under the code's macro average
    groups = None if g is None else g * k
    n = len(base)

    def each_seed(idx: np.ndarray) -> np.ndarray:
        return np.concatenate([idx + j * n for j in range(k)])

    base_k = base * k
    observed = _diffs(a, b, base_k, metrics, each_seed(np.arange(n)), groups)
    rng = np.random.default_rng(seed)
    resampled: dict[str, list[float]] = {m: [] for m in metrics}
    for _ in range(n_resamples):
        for m, d in _diffs(a, b, base_k, metrics, each_seed(rng.integers(0, n, size=n)), groups).items():
            if d is not None:
                resampled[m].append(d)
    tail = (1 - level) / 2 * 100
    out = {}
    for m in metrics:
        diff, diffs = observed[m], resampled[m]
        if diff is None or not diffs:
            out[m] = {"diff": diff, "lo": None, "hi": None, "p_value": None}
            continue
        lo, hi = np.percentile(diffs, [tail, 100 - tail])
        out[m] = {"diff": diff, "lo": float(lo), "hi": float(hi), "p_value": p_value(diff, np.array(diffs))}
    return out


def _diffs(a: list[str], b: list[str], base: list[str], metrics: Sequence[str], idx: np.ndarray,
           groups: list[str] | None = None) -> dict[str, float | None]:
    pick = idx.tolist()
    base_s = [base[i] for i in pick]
    g = [groups[i] for i in pick] if groups is not None else None
    va = summarize([a[i] for i in pick], base_s, g)
    vb = summarize([b[i] for i in pick], base_s, g)
    return {m: None if va[m] is None or vb[m] is None else va[m] - vb[m] for m in metrics}


def p_value(diff: float, diffs: np.ndarray) -> float:
    """Two-sided bootstrap p-value of an observed difference: twice the share of resampled
    differences that do not keep its sign (1 for a difference of 0)."""
    if diff == 0:
        return 1.0
    flipped = float(np.mean(diffs * np.sign(diff) <= 0))
    return min(1.0, 2 * flipped)
