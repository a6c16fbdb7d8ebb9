"""`harness leaderboard analyse`: what a run's numbers rest on, as plots and one page.

From one run directory (and the leaderboard published from it) it draws, per training domain:
the pool's correctness and certainty (M0's knowledge query), the knowledge flow after the rehearsal,
each method's selection (how many vanilla and idk rows, from which correctness and certainty), CRSS
per method; and over-refusal per method and task, one point per training seed. Every figure is
computed from the run's files (knowledge.jsonl, selection.jsonl, manifest.json, crss.json) and the
published rows, never typed in.
"""
from __future__ import annotations

import base64
import html
import random
import statistics
from pathlib import Path

from harness.run import layout
from harness.run.io import read_json, read_jsonl, write_json, write_jsonl, write_text
from harness.methods import METHODS
from harness.reporting.plots import save

KINDS = {"open": "OEQA", "choice": "MCQA"}
LABEL_COLOURS = {"vanilla": "#2e7d32", "idk": "#c62828"}


def _jitter(values: list[float], rng: random.Random, width: float) -> list[float]:
    return [v + rng.uniform(-width, width) for v in values]


def domain_facts(run_dir: Path, kind: str) -> dict | None:
    """The knowledge tables and each method's selection of one domain (None if it was not queried)."""
    query = run_dir / layout.query(kind) / layout.KNOWLEDGE
    if not query.exists():
        return None
    cfg = read_json(run_dir / layout.CONFIG)["config"]
    d = cfg["preset"][kind]
    table = {r["id"]: r for r in read_jsonl(query)}
    rehearsed = run_dir / layout.query(kind, rehearsed=True) / layout.KNOWLEDGE
    flow = {}
    if rehearsed.exists():
        flow = {r["id"]: r["correctness"] - table[r["id"]]["correctness"] for r in read_jsonl(rehearsed)}
    methods = {}
    for name in METHODS:
        build = run_dir / layout.build(kind, name)
        if not (build / layout.SELECTION).exists():
            continue
        sel = read_jsonl(build / layout.SELECTION)
        crss = run_dir / layout.crss(kind, name) / layout.CRSS
        picked = {lab: [table[r["id"]] for r in sel if r["label"] == lab and r["id"] in table]
                  for lab in ("vanilla", "idk")}
        methods[name] = {
            "manifest": read_json(build / layout.MANIFEST),
            "crss": read_json(crss).get("crss") if crss.exists() else None,
            "selected": {lab: [r["id"] for r in rows] for lab, rows in picked.items()},
            **{f"{lab}_{stat}": (statistics.fmean(r[col] for r in rows) if rows else None)
               for lab, rows in picked.items() for stat, col in (("mu", "correctness"), ("sigma", "certainty"))},
            **{f"{lab}_flow": (statistics.fmean(flow[r["id"]] for r in rows) if rows and flow else None)
               for lab, rows in picked.items()}}
    return {"kind": kind, "pool": len(table), "n_samples": d.get("n_samples"), "tau_lo": d["tau_lo"],
            "tau_hi": d["tau_hi"], "keep_zero_flow": d.get("keep_zero_flow", False), "table": list(table.values()),
            "flow": flow, "methods": methods,
            "rehearsal": rehearsal_summary(run_dir, kind, list(table.values()), d) if flow else None}


def _thresholds(f: dict):
    from harness.knowledge import construct
    lo, hi = f["tau_lo"], f["tau_hi"]
    return construct.from_tau(lo) if lo == hi else construct.Thresholds(lo, hi, True)


def rehearsal_summary(run_dir: Path, kind: str, table: list[dict], d: dict) -> dict | None:
    """The rehearsal set: what the stage recorded, or (runs older than that record) the same report
    computed from M0's table and the rehearsal's training rows."""
    from harness.knowledge.query import rehearsal_report
    stage = run_dir / layout.rehearse(kind)
    if (stage / layout.REHEARSAL).exists():
        return read_json(stage / layout.REHEARSAL)
    if not (stage / layout.SFT_DATA).exists():
        return None
    ids = [r["id"] for r in read_jsonl(stage / layout.SFT_DATA)]
    return rehearsal_report(table, ids, d["rehearsal_size"], d["rehearsal_min_correctness"],
                            d.get("rehearsal_min_certainty"))


def joined_table(run_dir: Path, f: dict) -> list[dict]:
    """One row per pool question: text and gold answer, M0's mu and sigma, the rehearsed mu and the
    flow, whether it was rehearsed, and per method its label (vanilla, idk or empty) and why. The
    columns id, correctness, certainty, correctness_rehearsal are `harness construct`'s input."""
    items = {it["id"]: it for it in read_jsonl(run_dir / layout.pool(f["kind"]) / layout.ITEMS)}
    rehearsed = run_dir / layout.rehearse(f["kind"]) / layout.SFT_DATA
    rehearsed_ids = {r["id"] for r in read_jsonl(rehearsed)} if rehearsed.exists() else set()
    out = []
    for r in f["table"]:
        row = {"id": r["id"], "question": items.get(r["id"], {}).get("question"),
               "answer": items.get(r["id"], {}).get("answer"), "correctness": r["correctness"],
               "certainty": r["certainty"]}
        if f["flow"]:
            row.update(correctness_rehearsal=r["correctness"] + f["flow"][r["id"]], flow=f["flow"][r["id"]],
                       rehearsed=r["id"] in rehearsed_ids)
        out.append(row)
    th = _thresholds(f)
    for name, facts in f["methods"].items():
        m = METHODS[name]
        labels = {i: lab for lab in ("vanilla", "idk") for i in facts["selected"][lab]}
        cands = candidate_ids(run_dir, f["kind"], m)
        for row in out:
            lab = labels.get(row["id"], "")
            row[name] = lab
            row[f"{name}_why"] = _why(row, lab, m.table, cands, th)
    return out


def candidate_ids(run_dir: Path, kind: str, m) -> tuple[set, set] | None:
    """A method's (vanilla, idk) candidates on the run's tables by its own `select`, run as its build
    stage ran it; None where that no longer gives the selection the build wrote (another code version)."""
    from dataclasses import MISSING, fields
    from types import SimpleNamespace

    from harness.data.prompts import idk_target
    from harness.knowledge import construct
    from harness.run.config import DomainConfig, Scoring
    from harness.stages.knowledge import knowledge_table
    cfg = read_json(run_dir / layout.CONFIG)["config"]
    defaults = {f.name: f.default for f in fields(DomainConfig) if f.default is not MISSING}
    domain = SimpleNamespace(**{**defaults, **cfg["preset"][kind]})
    scoring = Scoring(**cfg["preset"].get("scoring", {}))
    try:
        table = knowledge_table(lambda stage: run_dir / stage, kind, m.table, scoring)
    except FileNotFoundError:          # a run without the tables its rule reads (older layouts)
        return None
    sel = construct.apply(m.select, m.table, table, construct.params(domain, idk_target(kind, scoring.choice_prompt)),
                          seed=cfg.get("seed", 0))
    written = read_jsonl(run_dir / layout.build(kind, m.name) / layout.SELECTION)
    if [(r["id"], r["label"]) for r in sel.rows] != [(r["id"], r["label"]) for r in written]:
        return None
    return set(sel.candidate_ids[0]), set(sel.candidate_ids[1])


def _why(row: dict, label: str, table: str, cands: tuple[set, set] | None, th) -> str:
    state = "selected" if label else "not selected"
    if table == "pool":
        return "drawn from the pool" if label else "not drawn"
    if cands is None:
        return f"selected as {label}" if label else "not selected (today's rule gives another selection)"
    mu, flow = row["correctness"], row.get("flow")
    if row["id"] in cands[0]:
        return f"vanilla candidate by the method's rule (mu {mu:.2f}), {state}"
    if row["id"] in cands[1]:
        return f"idk candidate by the method's rule (mu {mu:.2f}), {state}"
    if th.is_idk(mu) and flow is not None:
        return f"mu <= tau_lo, but not an idk candidate (flow {flow:+.2f}: rehearsal did not lower it)"
    return f"neither a vanilla nor an idk candidate (mu {mu:.2f})"


def knowledge_plot(f: dict):
    """Histogram of mu; mu against sigma, with the thresholds."""
    from matplotlib.figure import Figure
    rows = f["table"]
    mu = [r["correctness"] for r in rows]
    sigma = [r["certainty"] for r in rows]
    fig = Figure(figsize=(10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    steps = f["n_samples"] if f["kind"] == "open" and f["n_samples"] else 10
    edges = [(i - 0.5) / steps for i in range(steps + 2)]
    ax1.hist(mu, bins=edges, color="#546e7a")
    ax1.set(xlabel="correctness mu (share of correct samples)", ylabel="questions (log scale)", yscale="log",
            title=f"{KINDS[f['kind']]} pool: correctness of M0 ({len(rows)} questions)")
    rng = random.Random(0)
    ax2.scatter(_jitter(mu, rng, 0.3 / steps), sigma, s=4, alpha=0.35, color="#546e7a", linewidths=0)
    for tau, name in ((f["tau_lo"], "tau_lo"), (f["tau_hi"], "tau_hi")):
        ax2.axvline(tau, color="0.3", linestyle="--", linewidth=0.8)
    ax2.set(xlabel="correctness mu (jittered)", ylabel="certainty sigma",
            title="certainty against correctness (dashed: thresholds)")
    fig.tight_layout()
    return fig


def flow_plot(f: dict):
    """The knowledge flow d_mu = mu(rehearsed) - mu(M0), split by M0's side of the thresholds."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6.4, 4))
    ax = fig.add_subplot()
    by_id = {r["id"]: r["correctness"] for r in f["table"]}
    groups = {"M0 knows (mu >= tau_hi)": [], "M0 does not (mu <= tau_lo)": [], "between": []}
    for i, d in f["flow"].items():
        mu = by_id[i]
        key = ("M0 knows (mu >= tau_hi)" if mu >= f["tau_hi"] else
               "M0 does not (mu <= tau_lo)" if mu <= f["tau_lo"] else "between")
        groups[key].append(d)
    steps = f["n_samples"] if f["kind"] == "open" and f["n_samples"] else 10
    edges = [(i - 0.5) / steps for i in range(-steps, steps + 2)]
    ax.hist([v for v in groups.values()], bins=edges, stacked=True, label=list(groups),
            color=["#2e7d32", "#c62828", "#9e9e9e"])
    ax.set(xlabel="knowledge flow d_mu = mu(rehearsed) - mu(M0)", ylabel="questions (log scale)", yscale="log",
           title=f"{KINDS[f['kind']]}: knowledge flow after the rehearsal")
    ax.legend(fontsize=8)
    return fig


def selection_plot(f: dict):
    """One panel per method: the pool in grey, its vanilla and idk rows in colour."""
    from matplotlib.figure import Figure
    names = list(f["methods"])
    cols = min(3, len(names))
    rows_n = (len(names) + cols - 1) // cols
    fig = Figure(figsize=(4.2 * cols, 3.6 * rows_n))
    axes = fig.subplots(rows_n, cols, squeeze=False).ravel()
    by_id = {r["id"]: r for r in f["table"]}
    steps = f["n_samples"] if f["kind"] == "open" and f["n_samples"] else 10
    for ax, name in zip(axes, names):
        m = f["methods"][name]
        rng = random.Random(0)
        ax.scatter(_jitter([r["correctness"] for r in f["table"]], rng, 0.3 / steps),
                   [r["certainty"] for r in f["table"]], s=3, color="0.8", linewidths=0)
        for lab, ids in m["selected"].items():
            pts = [by_id[i] for i in ids]
            ax.scatter(_jitter([r["correctness"] for r in pts], rng, 0.3 / steps), [r["certainty"] for r in pts],
                       s=7, color=LABEL_COLOURS[lab], linewidths=0, label=f"{lab} ({len(ids)})")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("mu", fontsize=8)
        ax.set_ylabel("sigma", fontsize=8)
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes[len(names):]:
        ax.set_visible(False)
    fig.suptitle(f"{KINDS[f['kind']]}: each method's training set on M0's knowledge (grey: the pool)")
    fig.tight_layout()
    return fig


def crss_plot(facts: list[dict]):
    from matplotlib.figure import Figure
    bars = [(f"{KINDS[f['kind']]}: {name}", m["crss"]) for f in facts for name, m in f["methods"].items()
            if m["crss"] is not None]
    fig = Figure(figsize=(max(4.0, 0.8 * len(bars) + 1.5), 3.8))
    ax = fig.add_subplot()
    ax.bar(range(len(bars)), [100 * v for _, v in bars], color="#6a1b9a")
    ax.set_xticks(range(len(bars)), [n for n, _ in bars], rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="CRSS (%)", title="conflict rate of similar samples (lower: fewer idk rows beside a near-twin vanilla row)")
    return fig


def over_refusal_plot(rows: list[dict]):
    """Over-refusal per method and task: a bar at the mean over training seeds, a dot per seed."""
    from matplotlib.figure import Figure
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    methods = list(dict.fromkeys(layout.parse_label(r["method"])[0] for r in rows))
    fig = Figure(figsize=(max(5.0, 0.9 * len(methods) * len(tasks) + 2), 4))
    ax = fig.add_subplot()
    width = 0.8 / len(tasks)
    for j, task in enumerate(tasks):
        xs, means = [], []
        for i, m in enumerate(methods):
            vals = [100 * r["over_refusal"] for r in rows if r["task"] == task and r.get("over_refusal") is not None
                    and layout.parse_label(r["method"])[0] == m]
            x = i + (j - (len(tasks) - 1) / 2) * width
            if vals:
                xs.append(x)
                means.append(statistics.fmean(vals))
                ax.scatter([x] * len(vals), vals, color="black", s=8, zorder=3)
        ax.bar(xs, means, width=width * 0.9, color=f"C{j}", label=task)
    ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="over-refusal (%)", title="over-refusal: questions init-basic answered correctly, now refused "
           "(bar: mean over seeds; dots: seeds)")
    ax.legend(fontsize=8)
    return fig


def _num(v, fmt: str) -> str:
    return "n/a" if v is None else format(v, fmt)


def selection_table(facts: list[dict]) -> list[str]:
    lines = ["| domain | method | vanilla (asked, candidates) | idk (asked, candidates) | shortfall | "
             "vanilla mean mu / sigma / flow | idk mean mu / sigma / flow | CRSS (%) |", "|" + "---|" * 8]
    for f in facts:
        for name, m in f["methods"].items():
            man = m["manifest"]
            lines.append(
                f"| {KINDS[f['kind']]} | {name} | {man['n_vanilla']} ({man['n_van_asked']}, {man['n_van_candidates']}) | "
                f"{man['n_idk']} ({man['n_idk_asked']}, {man['n_idk_candidates']}) | "
                f"{man['shortfall']['vanilla']}/{man['shortfall']['idk']} | "
                f"{_num(m['vanilla_mu'], '.2f')} / {_num(m['vanilla_sigma'], '.2f')} / {_num(m['vanilla_flow'], '+.2f')} | "
                f"{_num(m['idk_mu'], '.2f')} / {_num(m['idk_sigma'], '.2f')} / {_num(m['idk_flow'], '+.2f')} | "
                f"{_num(None if m['crss'] is None else 100 * m['crss'], '.1f')} |")
    return lines


def analyse(run_dir: Path, published: Path, out_dir: Path) -> Path:
    """Plots and `analysis.md` / `analysis.html` under out_dir, from the run and its published rows."""
    run_dir, out_dir = Path(run_dir).resolve(), Path(out_dir)
    if not (run_dir / layout.CONFIG).is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory: no config.json (pass OUT/runs/<hash>)")
    board = Path(published) / layout.LEADERBOARD
    if not board.is_file():
        raise FileNotFoundError(f"{board} does not exist: publish the run first (harness leaderboard publish)")
    rows = read_json(board)
    facts = [f for f in (domain_facts(run_dir, k) for k in KINDS) if f is not None]
    plots = out_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, str, str]] = []          # (stem, caption, section)
    for f in facts:
        k = f["kind"]
        save(knowledge_plot(f), plots / f"{k}_knowledge")
        figures.append((f"{k}_knowledge", f"{KINDS[k]}: the pool's correctness and certainty", "pool"))
        if f["flow"]:
            save(flow_plot(f), plots / f"{k}_flow")
            figures.append((f"{k}_flow", f"{KINDS[k]}: knowledge flow", "flow"))
        if f["methods"]:
            save(selection_plot(f), plots / f"{k}_selection")
            figures.append((f"{k}_selection", f"{KINDS[k]}: each method's selection", "selection"))
    if any(m["crss"] is not None for f in facts for m in f["methods"].values()):
        save(crss_plot(facts), plots / "crss")
        figures.append(("crss", "CRSS per method", "selection"))
    save(over_refusal_plot(rows), plots / "over_refusal")
    figures.append(("over_refusal", "over-refusal per method", "results"))
    summary = [{"kind": f["kind"], "pool": f["pool"], "flow_questions": len(f["flow"]), "rehearsal": f["rehearsal"],
                "methods": {n: {k: v for k, v in m.items() if k != "selected"} for n, m in f["methods"].items()}}
               for f in facts]
    write_json(out_dir / "analysis.json", summary)
    import pandas as pd
    for f in facts:
        joined = joined_table(run_dir, f)
        write_jsonl(out_dir / f"knowledge_table.{f['kind']}.jsonl", joined)
        write_text(out_dir / f"knowledge_table.{f['kind']}.csv", pd.DataFrame(joined).to_csv(index=False))
    table = selection_table(facts)
    cfg = read_json(run_dir / layout.CONFIG)
    head = (f"Run `{cfg.get('hash', run_dir.name)}` ({cfg['config']['model']}, preset "
            f"{cfg['config']['preset']['name']}). Selection: rows drawn (asked, candidates at the thresholds); "
            "mean correctness mu, certainty sigma and knowledge flow of the selected questions.")
    notes = [_rehearsal_text(f) for f in facts if f["rehearsal"]]
    notes.append("Every pool question with its text, M0's mu and sigma, the rehearsed mu and flow, and each "
                 "method's label and why: `knowledge_table.<domain>.jsonl` / `.csv` (its id, correctness, "
                 "certainty and correctness_rehearsal columns are `harness construct`'s input).")
    md = ["# What the leaderboard rests on", "", head, "", *table, "", *[f"{n}\n" for n in notes]]
    md += [f"![{cap}](plots/{stem}.svg)" for stem, cap, _ in figures]
    write_text(out_dir / "analysis.md", "\n".join(md) + "\n")
    write_text(out_dir / "analysis.html", _page(head + " " + " ".join(notes), table,
                                                [(plots / f"{s}.png", c) for s, c, _ in figures]))
    return out_dir / "analysis.html"


def _rehearsal_text(f: dict) -> str:
    r = f["rehearsal"]
    text = (f"{KINDS[f['kind']]} rehearsal: {r['picked']} questions, {r['meet_thresholds']} of them meeting mu >= "
            f"{r['min_correctness']}" + (f" and sigma >= {r['min_certainty']}" if r.get("min_certainty") is not None else ""))
    if r["fallback"]:
        text += (f"; the fallback filled the rest with the next best by (mu, sigma), down to mu = "
                 f"{r['lowest_correctness_picked']:.2f} ({r['picked_with_correctness_0']} at mu = 0): the rehearsal "
                 "also taught answers M0 did not know")
    return text + "."


def _page(head: str, table: list[str], images: list[tuple[Path, str]]) -> str:
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in table if not line.startswith("|---")]
    thead = "".join(f"<th>{html.escape(c)}</th>" for c in cells[0])
    tbody = "\n".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in cells[1:])
    figs = "\n".join(f'<figure><img alt="{html.escape(cap)}" src="data:image/png;base64,'
                     f'{base64.b64encode(p.read_bytes()).decode("ascii")}"><figcaption>{html.escape(cap)}'
                     "</figcaption></figure>" for p, cap in images)
    return ("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>RAIT run analysis</title>\n"
            "<style>body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#222}"
            "table{border-collapse:collapse;font-size:0.85rem}td,th{padding:0.3rem 0.5rem;border-bottom:1px solid #ddd}"
            "img{max-width:100%;border:1px solid #eee}</style>\n</head>\n<body>\n<h1>What the leaderboard rests on</h1>\n"
            f"<p>{html.escape(head).replace('`', '')}</p>\n<table><thead><tr>{thead}</tr></thead>\n<tbody>\n{tbody}\n"
            f"</tbody></table>\n{figs}\n</body>\n</html>\n")
