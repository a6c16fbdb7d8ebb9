"""Results by popularity (SPEC section 8): on a popularity-graded task (records with `stratum` and
`rank`, harness.data.geo) each method's Pc, Pw and Pr per stratum, with 95% Wilson intervals (honest at
small n and at 0% or 100%, where a percentile bootstrap collapses to a point), and the picture PopQA
made famous: accuracy and refusal against popularity rank. An ideal RAIT model answers the head and
refuses the tail; over-refusal is refusing what M0 knows wherever it sits on the curve."""
from __future__ import annotations

import math
from pathlib import Path

from harness.run import layout

from harness.reporting import plots
from harness.run.io import read_jsonl, write_json, write_text
from harness.reporting.leaderboard import _pct, by_task
from harness.scoring.metrics import wilson  # noqa: F401 (popularity's intervals; imported from here too)

COLUMNS = ["model", "method", "seed", "task", "stratum", "rank_min", "rank_max", "n", "pc", "pc_lo", "pc_hi",
           "pw", "pr", "pr_lo", "pr_hi", "run"]
OUTPUTS = ("popularity.json", "popularity.csv", "popularity.md")
NOTE = ("Results by popularity, in %: each stratum of the population rank (1 = the most populous), its "
        "questions' share answered right (Pc), wrong (Pw) and refused (Pr), with 95% Wilson intervals.")


def _order(stratum: str) -> int:
    return int(stratum.lstrip(">").split("-")[0])


def strata(records: list[dict]) -> list[dict]:
    """Per stratum, in rank order: n, rank range, Pc/Pw/Pr and Wilson intervals of Pc and Pr."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(r["stratum"], []).append(r)
    out = []
    for s in sorted(groups, key=_order):
        rs, n = groups[s], len(groups[s])
        k = {c: sum(r["class"] == c for r in rs) for c in ("correct", "wrong", "refused")}
        (pc_lo, pc_hi), (pr_lo, pr_hi) = wilson(k["correct"], n), wilson(k["refused"], n)
        out.append({"stratum": s, "rank_min": min(r["rank"] for r in rs), "rank_max": max(r["rank"] for r in rs),
                    "n": n, "pc": k["correct"] / n, "pc_lo": pc_lo, "pc_hi": pc_hi, "pw": k["wrong"] / n,
                    "pr": k["refused"] / n, "pr_lo": pr_lo, "pr_hi": pr_hi})
    return out


def rows(run_dir: Path, board: list[dict]) -> list[dict]:
    """The per-stratum rows of every leaderboard row whose task's records carry a popularity stratum."""
    out = []
    for b in board:
        records = read_jsonl(layout.records(run_dir, b["method"], b["task"]))
        if not records or "stratum" not in records[0]:
            continue
        out += [{"model": b["model"], "method": b["method"], "seed": b.get("seed"), "task": b["task"], **s,
                 "run": b.get("run")} for s in strata(records)]
    return out


def markdown(pop: list[dict]) -> str:
    lines = [NOTE, ""]
    for task, trows in by_task(pop).items():
        lines += [f"#### {task}", "", "| method | stratum (rank) | n | Pc | Pw | Pr |", "|---|---|---|---|---|---|"]
        for r in trows:
            lines.append(f"| {r['method']} | {r['stratum']} | {r['n']} | {_pct(r['pc'])} [{_pct(r['pc_lo'])}, "
                         f"{_pct(r['pc_hi'])}] | {_pct(r['pw'])} | {_pct(r['pr'])} [{_pct(r['pr_lo'])}, "
                         f"{_pct(r['pr_hi'])}] |")
        lines.append("")
    return "\n".join(lines)


def write(pop: list[dict], out: Path) -> None:
    import pandas as pd
    write_json(Path(out) / OUTPUTS[0], pop)
    write_text(Path(out) / OUTPUTS[1], pd.DataFrame(pop, columns=COLUMNS).to_csv(index=False))
    write_text(Path(out) / OUTPUTS[2], markdown(pop))


def plot(pop: list[dict], out_dir: Path) -> list[Path]:
    """`<task>_popularity.{png,svg}`: one small panel per method (the data seed's model; other training
    seeds are in the tables), its accuracy (Pc) and refusal (Pr) by popularity stratum with Wilson
    intervals, against init-basic's accuracy as a dotted line; each stratum's n under its label."""
    return [p for task, trows in by_task(pop).items()
            for p in plots.save(figure(task, trows), Path(out_dir) / f"{task}_popularity")]


def figure(task: str, trows: list[dict]):
    """The popularity figure of one task's per-stratum rows (plot's docstring)."""
    from matplotlib.figure import Figure
    from harness.run.layout import parse_label
    methods = [m for m in dict.fromkeys(r["method"] for r in trows) if parse_label(m)[1] is None]
    ref = [r for r in trows if r["method"] == methods[0]]
    cols = min(4, len(methods))
    rows_n = math.ceil(len(methods) / cols)
    fig = Figure(figsize=(3.1 * cols + 0.6, 2.5 * rows_n + 0.9))
    axes = fig.subplots(rows_n, cols, sharex=True, sharey=True, squeeze=False).ravel()
    x = list(range(len(ref)))
    for ax, m in zip(axes, methods):
        rs = [r for r in trows if r["method"] == m]
        for metric, colour, name in (("pc", plots.CLASS_COLOURS["pc"], "accuracy (Pc)"),
                                     ("pr", plots.CLASS_COLOURS["pr"], "refusal (Pr)")):
            y = [100 * r[metric] for r in rs]
            err = [[100 * (r[metric] - r[f"{metric}_lo"]) for r in rs], [100 * (r[f"{metric}_hi"] - r[metric]) for r in rs]]
            ax.errorbar(x[:len(rs)], y, yerr=err, marker="o", markersize=3, capsize=2, color=colour, label=name)
        if m != methods[0]:
            ax.plot(x, [100 * r["pc"] for r in ref], linestyle=":", color="0.3", label=f"{methods[0]} Pc")
        ax.set_title(m, fontsize=9)
        ax.set_ylim(-3, 103)
        ax.grid(True, linewidth=0.3)
    for ax in axes[len(methods):]:
        ax.set_visible(False)
    for i, ax in enumerate(axes[:len(methods)]):
        if i + cols >= len(methods):           # the lowest panel of each column carries the labels
            ax.set_xticks(x, [f"{r['stratum']}\nn={r['n']}" for r in ref], fontsize=6, rotation=30)
            ax.xaxis.set_tick_params(labelbottom=True)
    fig.supxlabel("population rank (1 = most populous)", fontsize=9)
    fig.supylabel("% of the stratum's questions", fontsize=9)
    fig.suptitle(f"{task}: accuracy and refusal by popularity (a good RAIT model answers the head, "
                 "refuses the tail)", fontsize=10)
    handles, labels = axes[min(1, len(methods) - 1)].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=8, ncol=3)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def print_table(pop: list[dict]) -> None:
    """Pc / Pr per stratum, a row per method and a column per stratum, for each task (in %)."""
    from rich.console import Console
    from rich.table import Table
    for task, trows in by_task(pop).items():
        names = list(dict.fromkeys(r["stratum"] for r in trows))
        t = Table(title=f"{task} by popularity rank: Pc / Pr in % (n per stratum)")
        t.add_column("method")
        for s in names:
            n = next(r["n"] for r in trows if r["stratum"] == s)
            t.add_column(f"{s} (n={n})", justify="right")
        for m in dict.fromkeys(r["method"] for r in trows):
            by = {r["stratum"]: r for r in trows if r["method"] == m}
            t.add_row(m, *[f"{_pct(by[s]['pc'])} / {_pct(by[s]['pr'])}" if s in by else "" for s in names])
        Console().print(t)

