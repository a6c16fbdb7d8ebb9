"""Per-sample records -> metric rows -> leaderboard files (JSON, CSV, Markdown) and a rich table."""
from __future__ import annotations

from pathlib import Path

from harness.io import read_json, read_jsonl, write_json, write_text
from harness.metrics import summarize

COLUMNS = ["model", "method", "task", "n", "pc", "pw", "pr", "ths", "over_refusal", "truthfulness",
           "refusal_precision", "unparsed", "shortfall_van", "shortfall_idk", "preset", "run"]
PERCENT = ["pc", "pw", "pr", "ths", "over_refusal", "truthfulness", "refusal_precision"]


def row(run_dir: Path, model: str, preset: str, method: str, task: str, kind: str,
        reference: str) -> dict:
    """Metrics of one (method, task), computed from its records and the reference's, by question id."""
    records = read_jsonl(run_dir / "eval" / method / task / "records.jsonl")
    base = {r["id"]: r["class"] for r in read_jsonl(run_dir / "eval" / reference / task / "records.jsonl")}
    missing = [r["id"] for r in records if r["id"] not in base]
    if missing:
        raise ValueError(f"{reference} has no record for {len(missing)} questions of {task}, e.g. {missing[:3]}")
    metrics = summarize([r["class"] for r in records], [base[r["id"]] for r in records])
    out = {"model": model, "method": method, "task": task, **metrics,
           "unparsed": sum(bool(r.get("unparsed")) for r in records),
           "shortfall_van": None, "shortfall_idk": None, "preset": preset, "run": run_dir.name}
    manifest = run_dir / kind / method / "build" / "manifest.json"
    if manifest.exists():
        short = read_json(manifest)["shortfall"]
        out.update(shortfall_van=short["vanilla"], shortfall_idk=short["idk"])
    return {k: out.get(k) for k in COLUMNS}


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}"


def markdown(rows: list[dict]) -> str:
    head = ["model", "method", "task", "n", "Pc", "Pw", "Pr", "THS", "over-refusal", "truthfulness",
            "shortfall (van/idk)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        short = "" if r["shortfall_van"] is None else f"{r['shortfall_van']}/{r['shortfall_idk']}"
        cells = [r["model"], r["method"], r["task"], str(r["n"])] + [_pct(r[k]) for k in
                 ("pc", "pw", "pr", "ths", "over_refusal", "truthfulness")] + [short]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\nAll figures in %. THS against init-basic on the same questions.\n"


def write(rows: list[dict], out: Path) -> None:
    import pandas as pd
    write_json(out / "leaderboard.json", rows)
    write_text(out / "leaderboard.csv", pd.DataFrame(rows, columns=COLUMNS).to_csv(index=False))
    write_text(out / "leaderboard.md", markdown(rows))


def print_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table
    table = Table(title="RAIT leaderboard (%)")
    for col in ["method", "task", "n", "Pc", "Pw", "Pr", "THS", "over-ref", "truthful"]:
        table.add_column(col, justify="left" if col in ("method", "task") else "right")
    for r in rows:
        table.add_row(r["method"], r["task"], str(r["n"]),
                      *[_pct(r[k]) for k in ("pc", "pw", "pr", "ths", "over_refusal", "truthfulness")])
    Console().print(table)
