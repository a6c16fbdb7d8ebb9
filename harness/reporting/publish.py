"""`harness leaderboard publish`: run directories -> leaderboard.{md,csv,json}, index.html, plots/.

Every figure is recomputed from the runs' per-sample records and config.json, never copied from
a `leaderboard.json`: that file holds only the last `bench` invocation, which need not be the
run being published.
"""
from __future__ import annotations

import base64
import html
from pathlib import Path

from harness import __version__

from harness.run import layout

from harness.reporting import popularity

from harness.scoring import side_effects
from harness.scoring.evaluate import is_side, task_info, tasks
from harness.run.io import read_json, write_json, write_text
from harness.run.io import read_jsonl
from harness.reporting.leaderboard import (COMPARE_HEAD, COMPARE_NOTE, PUBLISH_COLUMNS, SEED_COLUMNS, SEED_HEAD, SEED_NOTE,
                                 by_task, cell_text, compare_flags, diff_text, is_best_ths, publish_columns,
                                 publish_markdown, row, seed_summary, spread_text)
from harness.reporting.plots import task_plots
from harness.scoring.stats import COMPARE_METRICS, ci_rows, paired_differences, pooled_differences
from harness.methods import METHODS
from harness.scoring.metrics import REFERENCE


def _order(names, registry) -> list[str]:
    """Registry order first (the order the README and `harness ls` use), then the rest by name."""
    known = [n for n in registry if n in names]
    return known + sorted(set(names) - set(known))


def _order_labels(labels) -> list[str]:
    """Labels by method in registry order, then by training seed (the data seed's label first)."""
    parsed = {lab: layout.parse_label(lab) for lab in labels}
    rank = {m: i for i, m in enumerate(_order({m for m, _ in parsed.values()}, METHODS))}
    return sorted(labels, key=lambda lab: (rank[parsed[lab][0]], -1 if parsed[lab][1] is None else parsed[lab][1]))


def discover(run_dir: Path) -> list[tuple[str, str]]:
    """(label, task) of every records file of the run, tasks then methods in registry order, each
    method's training seeds together."""
    pairs = set(layout.all_records(run_dir))
    if not pairs:
        raise FileNotFoundError(f"{run_dir}: no eval/<method>/<task>/records.jsonl; "
                                "expected a run directory such as results/runs/<hash>")
    names = _order({t for _, t in pairs}, tasks())
    methods = _order_labels({m for m, _ in pairs})
    for t in names:
        if (REFERENCE, t) not in pairs:
            raise ValueError(f"{run_dir}: task {t} has no {REFERENCE} records, the reference of THS")
    return [(m, t) for t in names for m in methods if (m, t) in pairs]


def _run_meta(run_dir: Path) -> tuple[Path, dict, str, str, list[tuple[str, str]]]:
    """(run directory, config.json, model, preset, discover's (label, task) pairs) of a run directory."""
    run_dir = Path(run_dir).resolve()
    if not (run_dir / layout.CONFIG).is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory: no config.json "
                                "(pass OUT/runs/<hash>, not OUT)")
    meta = read_json(run_dir / layout.CONFIG)
    pairs = discover(run_dir)
    try:
        model, preset = meta.get("model_name") or meta["config"]["model"], meta["config"]["preset"]["name"]
    except (KeyError, TypeError):
        raise ValueError(f"{run_dir}/config.json has no config.model or config.preset.name") from None
    return run_dir, meta, model, preset, pairs


def run_rows(run_dir: Path, n_resamples: int = 1000, seed: int = 0) -> list[dict]:
    """Leaderboard rows of one run directory's CRaFT tasks, with bootstrap CIs and the harness version."""
    run_dir, meta, model, preset, pairs = _run_meta(run_dir)
    pairs = [(m, t) for m, t in pairs if not is_side(t)]
    rows = [row(run_dir, model, preset, m, t, task_info(t).kind, REFERENCE) for m, t in pairs]
    rows = ci_rows(run_dir, rows, n_resamples, seed,
                   honesty_refusal=meta["config"]["preset"].get("scoring", {}).get("honesty_refusal", "run"))
    extra = {"run": meta.get("hash", run_dir.name), "harness": meta.get("harness")}
    merged = [{**r, **extra} for r in rows]
    return [{k: r.get(k) for k in PUBLISH_COLUMNS} for r in merged]


def run_side_rows(run_dir: Path, n_resamples: int = 1000, seed: int = 0) -> list[dict]:
    """Side-effect rows (harness.scoring.side_effects) of one run directory's side-effect tasks."""
    run_dir, _, model, preset, pairs = _run_meta(run_dir)
    labels: dict[str, list[str]] = {}
    for m, t in pairs:
        if is_side(t):
            labels.setdefault(t, []).append(m)
    return side_effects.rows(run_dir, model, preset, labels, n_resamples, seed)


COMPARE_COLUMNS = ["run", "task", "method", "reference", "seeds"] + [
    f"{m}_{k}" for m in COMPARE_METRICS for k in ("diff", "lo", "hi", "p")] + [
    f"{m}_seed_sd" for m in COMPARE_METRICS]


def _reference_label(ref: str, seed: int | None, task: str, have: set) -> str | None:
    """The reference's label paired with a method label of training seed `seed`: the same seed, or
    the reference's only label when it has no seeds (an untuned method); None when it lacks one."""
    if (layout.seeded(ref, seed), task) in have:
        return layout.seeded(ref, seed)
    ref_seeds = {layout.parse_label(lab)[1] for lab, t in have if t == task and layout.parse_label(lab)[0] == ref}
    return ref if ref_seeds == {None} else None


def _diff_row(run: str, task: str, method: str, ref: str, diffs: dict, seeds: int = 1) -> dict:
    return {"run": run, "task": task, "method": method, "reference": ref, "seeds": seeds,
            **{f"{metric}_{'p' if k == 'p_value' else k}": v for metric, d in diffs.items() for k, v in d.items()}}


def run_comparisons(run_dir: Path, references: list[str], n_resamples: int = 1000, seed: int = 0) -> list[dict]:
    """Each method's paired-bootstrap difference from each reference (THS, Pc, Pw, over-refusal) on
    every task of the run where both were evaluated; a reference the run lacks is skipped. Under
    several training seeds, seed s is paired with the reference's seed s, and a pooled row
    (`craft (3 seeds)`) follows: all seeds' answers together, questions resampled with all their
    seeds (stats.pooled_differences), and the spread (sd) of the per-seed differences."""
    import statistics
    run_dir = Path(run_dir).resolve()
    pairs = [(m, t) for m, t in discover(run_dir) if not is_side(t)]
    have, run = set(pairs), read_json(run_dir / layout.CONFIG).get("hash", run_dir.name)
    out = []
    for t in dict.fromkeys(t for _, t in pairs):
        labels = [m for m, task in pairs if task == t]
        for ref in references:
            groups: dict[str, list[tuple[str, str]]] = {}
            for m in labels:
                base, s = layout.parse_label(m)
                ref_label = _reference_label(ref, s, t, have)
                if base in (ref, REFERENCE) or ref_label is None:
                    continue
                recs = [read_jsonl(layout.records(run_dir, x, t)) for x in (m, ref_label, REFERENCE)]
                out.append(_diff_row(run, t, m, ref_label, paired_differences(*recs, COMPARE_METRICS,
                                                                                n_resamples, seed)))
                groups.setdefault(base, []).append((m, ref_label))
            for base, pairs_ in groups.items():
                if len(pairs_) < 2:
                    continue
                a = [read_jsonl(layout.records(run_dir, m, t)) for m, _ in pairs_]
                b = [read_jsonl(layout.records(run_dir, r, t)) for _, r in pairs_]
                diffs = pooled_differences(a, b, read_jsonl(layout.records(run_dir, REFERENCE, t)),
                                           COMPARE_METRICS, n_resamples, seed)
                per_seed = [c for c in out if c["task"] == t and (c["method"], c["reference"]) in pairs_]
                refs = {r for _, r in pairs_}
                row = _diff_row(run, t, f"{base} ({len(pairs_)} seeds)",
                                ref if len(refs) == 1 and ref in refs else f"{ref} ({len(pairs_)} seeds)",
                                diffs, seeds=len(pairs_))
                for metric in COMPARE_METRICS:
                    vals = [c[f"{metric}_diff"] for c in per_seed if c[f"{metric}_diff"] is not None]
                    row[f"{metric}_seed_sd"] = statistics.stdev(vals) if len(vals) > 1 else None
                out.append(row)
    return out


def publish(run_dirs: list, out_dir: Path, n_resamples: int = 1000, seed: int = 0,
            references: tuple[str, ...] = ("rait", "craft")) -> list[dict]:
    """Merge run directories into one published leaderboard under `out_dir`; return its rows.
    Paired differences against `references` go beside each task's table and into comparisons.*."""
    import pandas as pd
    dirs = list(dict.fromkeys(Path(d).resolve() for d in run_dirs))   # the same run once
    if not dirs:
        raise ValueError("no run directories given")
    unknown = [r for r in references if r not in METHODS]
    if unknown:
        raise ValueError(f"unknown reference method {unknown[0]!r} for --compare; valid: {', '.join(METHODS)}")
    rows = [r for d in dirs for r in run_rows(d, n_resamples, seed)]
    side = [r for d in dirs for r in run_side_rows(d, n_resamples, seed)]
    task_rank = {t: i for i, t in enumerate(_order({r["task"] for r in rows + side}, tasks()))}
    rows.sort(key=lambda r: task_rank[r["task"]])                      # stable: run, method order kept
    comps = [c for d in dirs for c in run_comparisons(d, list(references), n_resamples, seed)]
    comps.sort(key=lambda c: task_rank[c["task"]])
    out_dir = Path(out_dir)
    task_plots(rows, out_dir / "plots")
    notes = footer(dirs, n_resamples, seed) + ([COMPARE_NOTE] if comps else [])
    write_json(out_dir / "leaderboard.json", rows)
    write_text(out_dir / "leaderboard.csv", pd.DataFrame(rows, columns=PUBLISH_COLUMNS).to_csv(index=False))
    write_json(out_dir / "comparisons.json", comps)
    summary = seed_summary(rows)
    if summary:
        write_json(out_dir / "seeds.json", summary)
        write_text(out_dir / "seeds.csv", pd.DataFrame(summary, columns=SEED_COLUMNS).to_csv(index=False))
    write_text(out_dir / "comparisons.csv", pd.DataFrame(comps, columns=COMPARE_COLUMNS).to_csv(index=False))
    pop = [p for d in dirs for p in popularity.rows(d, [r for r in rows if r["run"] == _run_hash(d)])]
    for stale in [*(out_dir / f for f in popularity.OUTPUTS), *(out_dir / "plots").glob("*_popularity.*")]:
        stale.unlink(missing_ok=True)        # an earlier publish's, redrawn below if this one has them
    if pop:
        popularity.write(pop, out_dir)
        popularity.plot(pop, out_dir / "plots")
    side.sort(key=lambda r: task_rank[r["task"]])
    if side:
        side_effects.write(side, out_dir)
        side_effects.plot(side, out_dir / "plots")
    else:                                   # an earlier publish's side effects are not this one's
        for stale in side_effects.OUTPUTS:
            (out_dir / stale).unlink(missing_ok=True)
    write_text(out_dir / "leaderboard.md", publish_markdown(rows, "\n\n".join(notes), comps)
               + ("\n" + popularity.markdown(pop) if pop else "") + (_side_markdown(side) if side else ""))
    write_text(out_dir / "index.html", page(rows, notes, out_dir / "plots", comps, summary, side))
    return rows


def _run_hash(run_dir: Path) -> str:
    return read_json(Path(run_dir) / layout.CONFIG).get("hash", Path(run_dir).name)


def _side_markdown(side: list[dict]) -> str:
    return "\n" + side_effects.markdown(side) + "![side effects](plots/side_effects.svg)\n"


def footer(dirs: list[Path], n_resamples: int, seed: int) -> list[str]:
    """What the figures mean, and which harness and runs produced them."""
    runs = []
    for d in dirs:
        meta = read_json(d / "config.json")
        cfg = meta["config"]
        sha = (meta.get("git_sha") or "unknown")[:10]
        runs.append(f"`{meta.get('hash', d.name)}` ({cfg['model']}, preset {cfg['preset']['name']}, "
                    f"seed {cfg.get('seed')}, harness {meta.get('harness')}, git {sha})")
    return [f"Figures in %, with 95% percentile-bootstrap intervals over test questions "
            f"({n_resamples} resamples, seed {seed}). THS against {REFERENCE} on the same questions; "
            "the best THS of each task in bold.",
            f"Published by harness {__version__} from runs: " + "; ".join(runs) + "."]


# ---------------------------------------------------------------- index.html

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: min(86rem, calc(100% - 1.5rem)); color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.8rem; }
th, td { padding: 0.2rem 0.3rem; border-bottom: 1px solid #ddd; text-align: right; }
td { white-space: nowrap; }
td .ci { color: #666; font-size: 0.8em; }
th { cursor: pointer; background: #f3f3f3; user-select: none; vertical-align: bottom; }
th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; }
td.text, th.text { text-align: left; }
td.best { font-weight: bold; background: #e8f5e9; }
figure { margin: 0 0 2rem; display: flex; flex-wrap: wrap; gap: 1rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
footer { color: #555; font-size: 0.85rem; border-top: 1px solid #ddd; padding-top: 0.5rem; }
"""

# Sorts by the raw value in data-sort (fractions, not the formatted "53.3 [48.1, 58.0]" text);
# undefined values (n/a) stay last in both directions. Marks each table once wired, so a DOM
# dump shows the script ran.
_JS = """
(function () {
  function value(row, col) { return row.cells[col].getAttribute("data-sort"); }
  function sortBy(table, th, col) {
    var asc = th.getAttribute("aria-sort") !== "ascending", numeric = th.dataset.type === "number";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, col), y = value(b, col);
      if (x === "" || y === "") { return (x === "") - (y === ""); }
      var d = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return asc ? d : -d;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () { sortBy(table, th, col); });
    });
    table.setAttribute("data-sortable", "ready");
  });
})();
"""

_TEXT_KEYS = {"model", "method", "preset", "run", "shortfall", "flags"}


def _cell(r: dict, key: str, best: bool) -> str:
    raw = r.get(key)
    sort = "" if raw is None else str(raw)
    cls = "text" if key in _TEXT_KEYS else ("best" if best else "")
    attr = f' class="{cls}"' if cls else ""
    text = html.escape(cell_text(r, key))
    if text.endswith("]") and " [" in text:       # an interval: the point, and under it the interval
        point, interval = text.split(" [", 1)
        text = f'{point}<br><span class="ci">[{interval}</span>'
    return f'<td{attr} data-sort="{html.escape(sort)}">{f"<strong>{text}</strong>" if best else text}</td>'


def _table(task_rows: list[dict], cols: list[tuple[str, str]]) -> str:
    head = "".join(f'<th scope="col" class="text" data-type="text">{html.escape(h)}</th>' if k in _TEXT_KEYS
                   else f'<th scope="col" data-type="number">{html.escape(h)}</th>' for h, k in cols)
    body = "\n".join("<tr>" + "".join(_cell(r, k, k == "ths" and is_best_ths(r, task_rows))
                                      for _, k in cols) + "</tr>" for r in task_rows)
    return (f'<table class="leaderboard sortable">\n<thead><tr>{head}</tr></thead>\n'
            f"<tbody>\n{body}\n</tbody>\n</table>")


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _compare_table(comps: list[dict], rows: list[dict]) -> str:
    if not comps:
        return ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["method", "vs", *(h for h, _ in COMPARE_HEAD), "flags"])
    body = "\n".join("<tr>" + "".join(f'<td class="text">{html.escape(c[k])}</td>' for k in ("method", "reference"))
                     + "".join(f"<td>{html.escape(diff_text(c, k))}</td>" for _, k in COMPARE_HEAD)
                     + f'<td class="text">{html.escape(compare_flags(c, rows))}</td></tr>' for c in comps)
    return (f'<p>Paired differences (percentage points):</p>\n<table class="comparisons">\n'
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n")


def _seed_table(summary: list[dict]) -> str:
    if not summary:
        return ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["method", "seeds", *(h for h, _ in SEED_HEAD)])
    body = "\n".join(f'<tr><td class="text">{html.escape(s["method"])}</td><td>{s["seeds"]}</td>'
                     + "".join(f"<td>{html.escape(spread_text(s, k))}</td>" for _, k in SEED_HEAD) + "</tr>"
                     for s in summary)
    return (f"<p>{html.escape(SEED_NOTE)}</p>\n<table class=\"seeds\">\n<thead><tr>{head}</tr></thead>\n"
            f"<tbody>\n{body}\n</tbody>\n</table>\n")


def _side_section(side: list[dict], plots_dir: Path) -> str:
    """The side-effects section: a table per task (a row per metric and method), then the plot."""
    parts = [f'<section id="side-effects">\n<h2>Side effects</h2>\n<p>{html.escape(side_effects.NOTE)}</p>']
    for task, trows in by_task(side).items():
        head = "".join(f'<th scope="col" class="text" data-type="text">{html.escape(h)}</th>'
                       for h in side_effects.HEAD)
        body = "\n".join("<tr>" + "".join(f'<td class="text">{html.escape(c)}</td>'
                                          for c in side_effects.cells(r, side)) + "</tr>" for r in trows)
        titles = "".join(f"<li><code>{html.escape(m)}</code>: {html.escape(t)}</li>"
                         for m, t in dict((r["metric"], r["title"]) for r in trows).items())
        parts.append(f"<h3>{html.escape(side_effects.heading(task, trows))}</h3>\n"
                     f'<table class="side-effects sortable">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n'
                     f"</tbody>\n</table>\n<ul>{titles}</ul>")
    if (plots_dir / "side_effects.png").exists():
        parts.append(f"<figure>{_img(plots_dir / 'side_effects.png', 'side effects: differences from init-basic')}"
                     "</figure>")
    return "\n".join(parts) + "\n</section>"


def _popularity_figure(task: str, plots_dir: Path) -> str:
    """A popularity-graded task's accuracy and refusal by popularity stratum (harness.reporting.popularity)."""
    png = plots_dir / f"{task}_popularity.png"
    if not png.exists():
        return ""
    return (f"<p>{html.escape(popularity.NOTE)} The table is in leaderboard.md and popularity.csv.</p>\n"
            f"<figure>{_img(png, f'{task}: accuracy and refusal by popularity')}</figure>\n")


def page(rows: list[dict], notes: list[str], plots_dir: Path, comps: list[dict] = (),
         summary: list[dict] = (), side: list[dict] = ()) -> str:
    """One self-contained page: inline CSS and script, plots as base64 PNG, nothing fetched."""
    cols = publish_columns(rows)
    sections = []
    for task, task_rows in by_task(rows).items():
        t = html.escape(task)
        sections.append(
            f'<section id="task-{t}">\n<h2>{t}</h2>\n{_table(task_rows, cols)}\n'
            f'{_seed_table([s for s in summary if s["task"] == task])}'
            f'{_compare_table([c for c in comps if c["task"] == task], rows)}<figure>'
            f'{_img(plots_dir / f"{task}_ths_plane.png", f"{task}: THS plane")}'
            f'{_img(plots_dir / f"{task}_bars.png", f"{task}: Pc, Pw, Pr by method")}</figure>\n'
            f'{_popularity_figure(task, plots_dir)}</section>')
    if side:
        sections.append(_side_section(list(side), plots_dir))
    foot = "".join(f"<p>{html.escape(n).replace('`', '')}</p>" for n in notes)
    return ("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>RAIT leaderboard</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            "<h1>RAIT leaderboard</h1>\n<p>Click a column header to sort.</p>\n"
            + "\n".join(sections) + f"\n<footer>{foot}</footer>\n<script>{_JS}</script>\n</body>\n</html>\n")
