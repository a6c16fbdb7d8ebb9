"""Per-sample records -> metric rows -> leaderboard files (JSON, CSV, Markdown) and a rich table."""
from __future__ import annotations

from pathlib import Path

from harness.run import layout
from harness.run.io import read_json, read_jsonl, write_json, write_text
from harness.scoring.metrics import honesty_metrics, record_groups, summarize

# SPEC section 6: CRaFT's (Pc, Pw, Pr, THS, over-refusal, truthfulness, refusal precision), Alignment for
from harness.scoring.classify import honesty_classes
# Honesty's (over-conservativeness = over-refusal, prudence, honesty) and AbstainQA's (reliable accuracy,
# effective reliability).
COLUMNS = ["model", "method", "seed", "task", "n", "pc", "pw", "pr", "pu", "ths", "over_refusal", "truthfulness",
           "refusal_precision", "prudence", "honesty", "reliable_accuracy", "effective_reliability",
           "ap", "unparsed", "empty", "shortfall_van", "shortfall_idk", "untrained", "preset", "run"]
PERCENT = ["pc", "pw", "pr", "pu", "ths", "over_refusal", "truthfulness", "refusal_precision", "prudence", "honesty",
           "reliable_accuracy", "effective_reliability", "ap"]


def row(run_dir: Path, model: str, preset: str, label: str, task: str, kind: str,
        reference: str) -> dict:
    """Metrics of one (label, task), computed from its records and the reference's, by question id.
    `method` is the label (`craft@seed1`: layout.parse_label); `seed` the training seed of a trained
    method (the run's data seed when the label has none), None for an untuned one."""
    records = read_jsonl(layout.records(run_dir, label, task))
    base_records = {r["id"]: r for r in read_jsonl(layout.records(run_dir, reference, task))}
    missing = [r["id"] for r in records if r["id"] not in base_records]
    if missing:
        raise ValueError(f"{reference} has no record for {len(missing)} questions of {task}, e.g. {missing[:3]}")
    base = [base_records[r["id"]] for r in records]
    metrics = summarize([r["class"] for r in records], [b["class"] for b in base], record_groups(records))
    detector = _scoring(run_dir).get("honesty_refusal", "run")
    if detector != "run":
        metrics |= honesty_metrics(honesty_classes(records, detector), honesty_classes(base, detector))
    out = {"model": model, "method": label, "task": task, **metrics,
           "unparsed": sum(bool(r.get("unparsed")) for r in records),
           "empty": sum(not str(r.get("answer") or "").strip() for r in records), "preset": preset, "run": run_dir.name,
           **training(run_dir, label, kind)}
    ap = run_dir / layout.confidence(label, task) / layout.AP
    if ap.exists():                        # R-Tuning's AP (r-tuning-unsure)
        out["ap"] = read_json(ap)["ap"]
    return {k: out.get(k) for k in COLUMNS}


def _scoring(run_dir: Path) -> dict:
    """The run's resolved Scoring (config.json), {} for a run directory without one."""
    config = run_dir / layout.CONFIG
    return read_json(config)["config"]["preset"].get("scoring", {}) if config.exists() else {}


def training(run_dir: Path, label: str, kind: str) -> dict:
    """What a label's training left: its constructed set's shortfall, whether it trained at all (an
    empty constructed set leaves M0 as it is: scored as the untuned model, and flagged) and its
    training seed (the run's data seed when the label has none); None for an untuned method."""
    method, label_seed = layout.parse_label(label)
    out = {"shortfall_van": None, "shortfall_idk": None, "untrained": None, "seed": None}
    manifest = layout.build_manifest(run_dir, kind, method)
    if manifest.exists():
        short = read_json(manifest)["shortfall"]
        out.update(shortfall_van=short["vanilla"], shortfall_idk=short["idk"])
    trained = run_dir / layout.train(kind, method, label_seed) / layout.TRAIN
    if trained.exists():
        out["untrained"] = read_json(trained).get("mode") == "none"
        out["seed"] = label_seed if label_seed is not None else read_json(run_dir / layout.CONFIG)["config"]["seed"]
    return out


def shortfall_text(r: dict) -> str:
    """`40/10`: vanilla/idk questions asked but not found; empty for untuned methods."""
    return "" if r.get("shortfall_van") is None else f"{r['shortfall_van']}/{r['shortfall_idk']}"


# A row whose answers are this often unparsed (nothing the scorer can read, e.g. an MCQA answer without
# a letter) is flagged and warned about: they are outside Pc, Pw and Pr (the unparsed column) or, where
# the scoring says so, counted wrong.
UNPARSED_WARN = 0.2
EMPTY_WARN = 0.5           # most answers empty: the terminal warns


def _unparsed_share(r: dict) -> float:
    return (r.get("unparsed") or 0) / r["n"] if r.get("n") else 0.0


def flags_text(r: dict, short: bool = False) -> str:
    """What makes a row unlike the others: trained on nothing (an empty constructed set), short, or
    with many unparsed answers."""
    flags = ["UNTRAINED" if short else "UNTRAINED (empty training set: scores are M0's)"] if r.get("untrained") else []
    if not r.get("untrained") and (r.get("shortfall_van") or r.get("shortfall_idk")):
        flags.append("short")
    if _unparsed_share(r) >= UNPARSED_WARN:
        flags.append(f"{_pct(_unparsed_share(r))}% unparsed")
    return "; ".join(flags)


def unparsed_warnings(rows: list[dict]) -> list[str]:
    """One line per row whose unparsed answers reach UNPARSED_WARN of its questions."""
    return [f"{r['method']} on {r['task']}: {r['unparsed']} of {r['n']} answers ({_pct(_unparsed_share(r))}%) "
            "have nothing the scorer can read; "
            + ("they are outside Pc, Pw and Pr (the unparsed column)" if r.get("pu") else "they are counted wrong")
            for r in rows if _unparsed_share(r) >= UNPARSED_WARN] + [
        f"{r['method']} on {r['task']}: {r['empty']} of {r['n']} answers are empty; a model that says nothing "
        "to this prompt may need another --prompt-style (completion for a base model)"
        for r in rows if r.get("n") and (r.get("empty") or 0) / r["n"] >= EMPTY_WARN]


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}"


def _seed_text(r: dict) -> str:
    return "" if r.get("seed") is None else str(r["seed"])


def markdown(rows: list[dict]) -> str:
    head = ["model", "method", "seed", "task", "n", "Pc", "Pw", "Pr", "unparsed", "THS", "over-refusal", "truthfulness",
            "prudence", "honesty", "reliable acc.", "eff. reliability", "AP (R-Tuning)", "shortfall (van/idk)", "flags"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["model"], r["method"], _seed_text(r), r["task"], str(r["n"])] + [_pct(r.get(k)) for k in
                 ("pc", "pw", "pr", "pu", "ths", "over_refusal", "truthfulness", "prudence", "honesty", "reliable_accuracy",
                  "effective_reliability")] + ["" if r.get("ap") is None else _pct(r["ap"]), shortfall_text(r),
                                               flags_text(r)]
        lines.append("| " + " | ".join(cells) + " |")
    return ("\n".join(lines + [""] + seed_markdown(seed_summary(rows)))
            + "\nAll figures in %. THS against init-basic on the same questions.\n")


# ---------------------------------------------------------------- across training seeds

SEED_METRICS = ("ths", "pc", "pw", "over_refusal")
SEED_HEAD = [("THS", "ths"), ("Pc", "pc"), ("Pw", "pw"), ("over-refusal", "over_refusal")]
SEED_COLUMNS = ["model", "run", "task", "method", "seeds"] + [
    f"{m}_{k}" for m in SEED_METRICS for k in ("mean", "sd", "min", "max")]
SEED_NOTE = ("Across training seeds: mean ± standard deviation [min, max] over the seeds, each seed trained on "
             "the same constructed set and evaluated on the same questions; the per-seed rows carry the "
             "per-question bootstrap intervals.")


def seed_summary(rows: list[dict]) -> list[dict]:
    """Mean, sd, min and max over the training seeds of each (model, run, task, method) with several."""
    import statistics
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("seed") is not None:
            groups.setdefault((r["model"], r.get("run"), r["task"], layout.parse_label(r["method"])[0]), []).append(r)
    out = []
    for (model, run, task, method), rs in groups.items():
        if len(rs) < 2:
            continue
        s = {"model": model, "run": run, "task": task, "method": method, "seeds": len(rs)}
        for m in SEED_METRICS:
            vals = [r[m] for r in rs if r.get(m) is not None]
            s.update({f"{m}_mean": statistics.fmean(vals) if vals else None,
                      f"{m}_sd": statistics.stdev(vals) if len(vals) > 1 else None,
                      f"{m}_min": min(vals, default=None), f"{m}_max": max(vals, default=None)})
        out.append(s)
    return out


def spread_text(s: dict, metric: str) -> str:
    """`21.3 ± 1.2 [19.9, 22.4]` in %."""
    mean, sd = s.get(f"{metric}_mean"), s.get(f"{metric}_sd")
    if mean is None:
        return "n/a"
    return f"{_pct(mean)} ± {_pct(sd)} [{_pct(s[f'{metric}_min'])}, {_pct(s[f'{metric}_max'])}]"


def seed_markdown(summary: list[dict]) -> list[str]:
    if not summary:
        return []
    head = ["method", "seeds"] + [h for h, _ in SEED_HEAD]
    lines = [SEED_NOTE, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summary:
        lines.append("| " + " | ".join([s["method"], str(s["seeds"])] + [spread_text(s, k) for _, k in SEED_HEAD]) + " |")
    return lines + [""]


def write(rows: list[dict], out: Path) -> None:
    import pandas as pd
    write_json(out / layout.LEADERBOARD, rows)
    write_text(out / "leaderboard.csv", pd.DataFrame(rows, columns=COLUMNS).to_csv(index=False))
    write_text(out / "leaderboard.md", markdown(rows))


def print_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table
    table = Table(title="RAIT leaderboard (%)")
    for col in ["method", "seed", "task", "n", "Pc", "Pw", "Pr", "unpars", "THS", "over-ref", "truthful", "honesty",
                "short", "flags"]:
        table.add_column(col, justify="left" if col in ("method", "task", "flags") else "right",
                         min_width=9 if col == "flags" else None)
    for r in rows:
        table.add_row(r["method"], _seed_text(r), r["task"], str(r["n"]),
                      *[_pct(r.get(k)) for k in ("pc", "pw", "pr", "pu", "ths", "over_refusal", "truthfulness", "honesty")],
                      shortfall_text(r), flags_text(r, short=True), style="red" if r.get("untrained") else None)
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)         # a log or a pipe: no terminal width to fit, keep every column
    console.print(table)
    for w in unparsed_warnings(rows):
        console.print(f"[yellow]warning: {w}[/yellow]")
    summary = seed_summary(rows)
    if summary:
        seeds = Table(title="across training seeds (%): mean ± sd [min, max]")
        for col in ["method", "task", "seeds", *(h for h, _ in SEED_HEAD)]:
            seeds.add_column(col, justify="left" if col in ("method", "task") else "right")
        for s in summary:
            seeds.add_row(s["method"], s["task"], str(s["seeds"]), *[spread_text(s, k) for _, k in SEED_HEAD])
        console.print(seeds)


# ---------------------------------------------------------------- published leaderboard (with CIs)

CI_COLUMNS = [f"{m}_{end}" for m in ("pc", "pw", "pr", "ths", "over_refusal", "truthfulness", "honesty")
              for end in ("lo", "hi")]
PUBLISH_COLUMNS = COLUMNS + CI_COLUMNS + ["over_refusal_k", "over_refusal_den", "harness"]


def ci_text(r: dict, metric: str) -> str:
    """`53.3 [48.1, 58.0]`: the point and its interval in %, or the point alone without one."""
    lo, hi = r.get(f"{metric}_lo"), r.get(f"{metric}_hi")
    if r.get(metric) is None or lo is None or hi is None:
        return _pct(r.get(metric))
    return f"{_pct(r[metric])} [{_pct(lo)}, {_pct(hi)}]"


def publish_columns(rows: list[dict]) -> list[tuple[str, str]]:
    """(header, row key) of a published table; preset and run only when rows come from several runs."""
    cols = [("model", "model"), ("method", "method"), ("seed", "seed"), ("n", "n"), ("Pc", "pc"), ("Pw", "pw"),
            ("Pr", "pr"), ("unparsed", "pu"), ("THS", "ths"), ("over-refusal", "over_refusal"),
            ("truthfulness", "truthfulness"), ("prudence", "prudence"), ("honesty", "honesty"),
            ("reliable acc.", "reliable_accuracy"), ("eff. reliability", "effective_reliability"),
            ("AP (R-Tuning)", "ap"), ("shortfall (van/idk)", "shortfall"), ("flags", "flags")]
    if len({r["run"] for r in rows}) > 1:
        cols += [("preset", "preset"), ("run", "run")]
    return cols


def cell_text(r: dict, key: str) -> str:
    if key == "shortfall":
        return shortfall_text(r)
    if key == "flags":
        return flags_text(r)
    if key in ("pc", "pw", "pr", "ths", "honesty"):
        return ci_text(r, key)
    if key == "over_refusal" and r.get("over_refusal_den") is not None:   # the questions it rests on
        return f"{_pct(r.get(key))} ({r['over_refusal_k']}/{r['over_refusal_den']})"
    if key == "ap":                         # only r-tuning-unsure has one
        return "" if r.get("ap") is None else _pct(r["ap"])
    if key in PERCENT:
        return _pct(r.get(key))
    return "" if r.get(key) is None else str(r[key])


def is_best_ths(r: dict, task_rows: list[dict]) -> bool:
    """The best THS among the rows of the same model (each model has its own reference, so THS of two
    models are not on one scale), only when no other row ties it: four tied THS of 0.0 have no best.
    A tolerance keeps equal THS computed along different paths tied."""
    values = [x["ths"] for x in task_rows if x.get("ths") is not None and x.get("model") == r.get("model")]
    if r.get("ths") is None or r["ths"] < max(values) - 1e-12:
        return False
    return sum(v >= max(values) - 1e-12 for v in values) == 1


def by_task(rows: list[dict]) -> dict[str, list[dict]]:
    """Rows grouped by task, tasks and rows in their first-seen order."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["task"], []).append(r)
    return groups


# ---------------------------------------------------------------- paired differences

COMPARE_HEAD = [("ΔTHS", "ths"), ("ΔPc", "pc"), ("ΔPw", "pw"), ("Δover-refusal", "over_refusal")]
COMPARE_NOTE = ("Paired differences: method minus reference on the same questions, in percentage points, "
                "with the 95% paired-bootstrap interval and the two-sided bootstrap p-value.")


def _signed(v) -> str:
    return "n/a" if v is None else f"{100 * v:+.1f}"


def diff_text(c: dict, metric: str) -> str:
    """`+2.0 [-1.0, +5.0] p=0.21`, or the difference alone where no interval exists."""
    d = c.get(f"{metric}_diff")
    if d is None or c.get(f"{metric}_lo") is None:
        return _signed(d)
    sd = c.get(f"{metric}_seed_sd")
    spread = "" if sd is None else f", seed sd {100 * sd:.1f}"
    return f"{_signed(d)} [{_signed(c[f'{metric}_lo'])}, {_signed(c[f'{metric}_hi'])}] p={c[f'{metric}_p']:.2f}{spread}"


def compare_flags(c: dict, rows: list[dict]) -> str:
    """An untrained side makes a comparison meaningless: say which."""
    by = {(r["run"], r["method"], r["task"]): r for r in rows}
    # a pooled row ("craft (3 seeds)") shares its method's constructed set: the data seed's row says
    bad = [m for m in (c["method"], c["reference"])
           if (by.get((c["run"], m.split(" (")[0], c["task"])) or {}).get("untrained")]
    return f"UNTRAINED: {', '.join(bad)}" if bad else ""


def compare_markdown(comps: list[dict], rows: list[dict]) -> list[str]:
    if not comps:
        return []
    head = ["method", "vs"] + [h for h, _ in COMPARE_HEAD] + ["flags"]
    lines = ["Paired differences (percentage points):", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in comps:
        cells = [c["method"], c["reference"]] + [diff_text(c, k) for _, k in COMPARE_HEAD] + [compare_flags(c, rows)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def publish_markdown(rows: list[dict], footer: str, comps: list[dict] = ()) -> str:
    """One table per task with 95% CIs, the best THS of each task in bold, then the task's paired
    differences against the references."""
    lines = ["# RAIT leaderboard", ""]
    cols = publish_columns(rows)
    for task, task_rows in by_task(rows).items():
        lines += [f"## {task}", "", "| " + " | ".join(h for h, _ in cols) + " |", "|" + "---|" * len(cols)]
        for r in task_rows:
            cells = [cell_text(r, k) for _, k in cols]
            if is_best_ths(r, task_rows):
                cells[[k for _, k in cols].index("ths")] = f"**{cell_text(r, 'ths')}**"
            lines.append("| " + " | ".join(cells) + " |")
        lines += [""] + seed_markdown([s for s in seed_summary(rows) if s["task"] == task])
        lines += compare_markdown([c for c in comps if c["task"] == task], rows)
        lines += [f"![{task}: THS plane](plots/{task}_ths_plane.svg) "
                  f"![{task}: Pc, Pw, Pr](plots/{task}_bars.svg)", ""]
    return "\n".join(lines) + "\n" + footer.rstrip() + "\n"
