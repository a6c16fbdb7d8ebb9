"""Side effects of RAIT (SPEC section 7): what tuning a model to refuse costs outside its training
domain. Each side-effect task (tasks/<task>/, `metadata.group: side-effects`) declares its metrics in
its utils.SIDE_METRICS; every one is a ratio of two sums over the questions, and each record carries
its question's (numerator, denominator) pairs under `scores`. Here those pairs become each method's
value with a bootstrap 95% interval, and its paired difference from init-basic on the same questions
(one set of resampled question indices for every method of a task, so what the questions share
cancels) with its interval and two-sided p-value; then tables, files and a plot.

Rows are long: one per (model, method label, task, metric)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from harness.run import layout

from harness.reporting import plots
from harness.run.io import read_jsonl, write_json, write_text
from harness.reporting.leaderboard import _pct, _signed, by_task, flags_text, shortfall_text, training
from harness.scoring.metrics import REFERENCE, Side
from harness.scoring.stats import p_value

OUTPUTS = (layout.SIDE_EFFECTS, "side_effects.csv", "side_effects.md", "plots/side_effects.png",
           "plots/side_effects.svg")     # what write() and plot() put under a directory
COLUMNS = ["model", "method", "seed", "task", "metric", "title", "better", "n", "subsets", "value", "lo", "hi",
           "reference", "diff", "diff_lo", "diff_hi", "p", "shortfall_van", "shortfall_idk", "untrained",
           "preset", "run"]
NOTE = ("Side effects (SPEC section 7), in %: each method's value with its 95% bootstrap interval over the "
        "test questions, and its paired difference from init-basic on the same questions (percentage points, "
        "95% paired-bootstrap interval, two-sided p). Models tuned on the open-ended (OEQA) domain; each method "
        "is prompted in its own style, so init-refuse separates what the refusal instruction alone does.")


def side_metrics(task: str) -> dict[str, Side]:
    """The task's side-effect metrics (tasks/<task>/utils.py SIDE_METRICS), in their order."""
    from harness.tasks import module
    return module(task).SIDE_METRICS


def _pairs(records: list[dict], metric: str, task: str) -> np.ndarray:
    try:
        return np.array([r["scores"][metric] for r in records], dtype=float).reshape(len(records), 2)
    except KeyError:
        raise ValueError(f"the {task} records lack the score {metric!r}; they were written by another version "
                         f"of the task: rerun the bench to re-evaluate them") from None


def ratios(pairs: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """sum(num) / sum(den) over the questions of each row of idx (nan where no question counts in
    the denominator)."""
    num, den = pairs[:, 0][idx].sum(-1), pairs[:, 1][idx].sum(-1)
    return np.divide(num, den, out=np.full(np.shape(num), np.nan), where=den > 0)


def _interval(values: np.ndarray, level: float) -> tuple[float | None, float | None]:
    values = values[np.isfinite(values)]
    if not len(values):
        return None, None
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def _finite(v) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def _aligned(run_dir: Path, label: str, task: str, ids: list[str]) -> list[dict]:
    by_id = {r["id"]: r for r in read_jsonl(layout.records(run_dir, label, task))}
    missing = [i for i in ids if i not in by_id]
    if missing or len(by_id) != len(ids):
        raise ValueError(f"{label} and {REFERENCE} were not evaluated on the same {task} questions "
                         f"({len(by_id)} against {len(ids)}; e.g. {missing[:3]} missing)")
    return [by_id[i] for i in ids]


def task_rows(run_dir: Path, model: str, preset: str, task: str, labels: list[str], kind: str = "open",
              n_resamples: int = 1000, seed: int = 0, level: float = 0.95) -> list[dict]:
    """Rows of every label on one side-effect task: value, interval and paired difference from
    init-basic for each of the task's metrics."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples!r}")
    reference = read_jsonl(layout.records(run_dir, REFERENCE, task))
    ids = [r["id"] for r in reference]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{REFERENCE}'s {task} records have duplicate question ids")
    idx = np.random.default_rng(seed).integers(0, len(ids), size=(n_resamples, len(ids)))
    everything = np.arange(len(ids))
    counts = Counter(r["subset"] for r in reference if r.get("subset"))
    subsets = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    metrics = side_metrics(task)
    ref = {m: _pairs(reference, m, task) for m in metrics}
    ref_value = {m: float(ratios(p, everything)) for m, p in ref.items()}
    ref_boot = {m: ratios(p, idx) for m, p in ref.items()}
    out = []
    for label in labels:
        records = reference if label == REFERENCE else _aligned(run_dir, label, task, ids)
        info = training(run_dir, label, kind)
        for metric, side in metrics.items():
            pairs = ref[metric] if label == REFERENCE else _pairs(records, metric, task)
            value = float(ratios(pairs, everything))
            boot = ref_boot[metric] if label == REFERENCE else ratios(pairs, idx)
            lo, hi = _interval(boot, level)
            row = {"model": model, "method": label, "task": task, "metric": metric, "title": side.title,
                   "better": side.better, "n": len(ids), "subsets": subsets, "value": _finite(value),
                   "lo": lo, "hi": hi, "reference": REFERENCE, "preset": preset, "run": run_dir.name, **info}
            if label != REFERENCE:
                diff = value - ref_value[metric]
                diffs = boot - ref_boot[metric]
                d_lo, d_hi = _interval(diffs, level)
                finite = diffs[np.isfinite(diffs)]
                row.update(diff=_finite(diff), diff_lo=d_lo, diff_hi=d_hi,
                           p=p_value(diff, finite) if np.isfinite(diff) and len(finite) else None)
            out.append({k: row.get(k) for k in COLUMNS})
    return out


def rows(run_dir: Path, model: str, preset: str, labels: dict[str, list[str]], n_resamples: int = 1000,
         seed: int = 0) -> list[dict]:
    """Rows of every side-effect task of `labels` ({task: method labels, init-basic among them})."""
    from harness.scoring.evaluate import task_info
    return [r for task, lab in labels.items()
            for r in task_rows(run_dir, model, preset, task, lab, task_info(task).kind, n_resamples, seed)]


# ---------------------------------------------------------------- text

def value_text(r: dict) -> str:
    """`34.0 [28.1, 40.2]` in %."""
    if r["value"] is None or r["lo"] is None:
        return _pct(r["value"])
    return f"{_pct(r['value'])} [{_pct(r['lo'])}, {_pct(r['hi'])}]"


def diff_text(r: dict) -> str:
    """`-4.0 [-9.0, +1.0] p=0.13` in percentage points; empty for the reference."""
    if r["method"] == REFERENCE:
        return "(reference)"
    if r["diff"] is None or r["diff_lo"] is None:
        return _signed(r["diff"])
    return f"{_signed(r['diff'])} [{_signed(r['diff_lo'])}, {_signed(r['diff_hi'])}] p={r['p']:.2f}"


def heading(task: str, task_rows_: list[dict]) -> str:
    r = task_rows_[0]
    return f"{task}: {r['n']} questions" + (f" ({r['subsets']})" if r["subsets"] else "")


HEAD = ["metric", "method", "seed", "value [95% CI]", "Δ vs init-basic [95% CI]", "shortfall", "flags"]


def cells(r: dict, rows_: list[dict]) -> list[str]:
    """A row's cells under HEAD; the method prefixed by its model when rows_ hold several."""
    return [f"{r['metric']} ({r['better']} is better)", plots.label(r, rows_),
            "" if r["seed"] is None else str(r["seed"]), value_text(r), diff_text(r), shortfall_text(r), flags_text(r, short=True)]


def markdown(rows_: list[dict]) -> str:
    """One table per task: a row per (metric, method)."""
    lines = ["## Side effects", "", NOTE, ""]
    for task, trows in by_task(rows_).items():
        lines += [f"### {heading(task, trows)}", "", "| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
        for metric in dict.fromkeys(r["metric"] for r in trows):
            lines += ["| " + " | ".join(cells(r, rows_)) + " |" for r in trows if r["metric"] == metric]
        titles = dict((r["metric"], r["title"]) for r in trows)
        lines += [""] + [f"- `{m}`: {t}" for m, t in titles.items()] + [""]
    return "\n".join(lines) + "\n"


def write(rows_: list[dict], out: Path) -> None:
    import pandas as pd
    json_file, csv_file, md_file = OUTPUTS[:3]
    write_json(out / json_file, rows_)
    write_text(out / csv_file, pd.DataFrame(rows_, columns=COLUMNS).to_csv(index=False))
    write_text(out / md_file, markdown(rows_))


def print_table(rows_: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    for task, trows in by_task(rows_).items():
        table = Table(title=f"side effects (%), {heading(task, trows)}")
        for col in HEAD:
            table.add_column(col, justify="left" if col in ("metric", "method", "flags") else "right")
        metrics = list(dict.fromkeys(r["metric"] for r in trows))
        for i, metric in enumerate(metrics):
            mrows = [r for r in trows if r["metric"] == metric]
            for j, r in enumerate(mrows):
                texts = cells(r, rows_)
                table.add_row(texts[0] if j == 0 else "", *texts[1:], style="red" if r.get("untrained") else None,
                              end_section=j == len(mrows) - 1 and i < len(metrics) - 1)
        console.print(table)


# ---------------------------------------------------------------- plot

def plot(rows_: list[dict], out_dir: Path) -> list[Path]:
    """`side_effects.{png,svg}`: one panel per headline metric (SIDE_METRICS ... headline=True), each
    method's paired difference from init-basic with its 95% interval; the reference's own value is
    in the panel's title. Untrained or short methods are drawn hollow and named so."""
    from matplotlib.figure import Figure
    panels = [(task, metric) for task, trows in by_task(rows_).items()
              for metric in dict.fromkeys(r["metric"] for r in trows)
              if side_metrics(task)[metric].headline]
    if not panels:
        return []
    cols = min(3, len(panels))
    nrows = -(-len(panels) // cols)
    methods = list(dict.fromkeys(plots.label(r, rows_) for r in rows_ if r["method"] != REFERENCE))
    fig = Figure(figsize=(4.6 * cols, 0.9 + (0.38 * max(1, len(methods)) + 1.1) * nrows))
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (task, metric) in zip(axes.flat, panels):
        mrows = [r for r in rows_ if r["task"] == task and r["metric"] == metric]
        refs = [r for r in mrows if r["method"] == REFERENCE]
        shown = [r for r in mrows if r["method"] != REFERENCE]
        ax.axvline(0, color="#616161", lw=1, ls="--")
        for y, r in enumerate(shown):
            if r["diff"] is None:
                continue
            ax.errorbar([100 * r["diff"]], [y], xerr=plots._err(r, "diff"), fmt="o", color="#1565c0", capsize=3,
                        markerfacecolor="white" if flags_text(r, short=True) else "#1565c0")
        ends = [100 * v for r in shown for v in (r["diff"], r["diff_lo"], r["diff_hi"]) if v is not None]
        if not ends or max(ends) - min(ends) < 2:          # nothing moved: a readable scale around zero
            mid = sum(ends) / len(ends) if ends else 0.0
            ax.set_xlim(min(-2.0, mid - 2), max(2.0, mid + 2))
        ax.set_yticks(range(len(shown)))
        ax.set_yticklabels([plots.label(r, rows_) + (f" ({flags_text(r, short=True)})" if flags_text(r, short=True)
                                                else "") for r in shown])
        ax.set_ylim(-0.7, len(shown) - 0.3)
        ax.invert_yaxis()
        ref = ", ".join(f"{_pct(r['value'])}%" for r in refs)
        ax.set_title(f"{task}: {metric}\ninit-basic {ref}; {mrows[0]['better']} is better", fontsize=9)
        ax.set_xlabel("difference from init-basic (points)", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Side effects: paired difference from init-basic, 95% bootstrap interval", fontsize=10)
    fig.tight_layout()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return plots.save(fig, out_dir / "side_effects")
