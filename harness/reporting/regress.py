"""Regression gate: compare leaderboard rows with a committed baseline (`harness regress`).

A metric fails when it moves in its bad direction by more than its tolerance. Pr has no good
direction (more refusals are right on unknown questions and wrong on known ones), so its moves
are reported and never fail; the gated metrics that involve refusals (THS, over-refusal,
truthfulness) already judge whether a refusal was the right one.

Two kinds of row are gated in both directions, failing as "moved": the training sets
(harness.reporting.trainsets: what a method's rule selected has no better direction), and the test rows of the
tasks the baseline lists under "two_sided" (a bug can make a method look better: CRaFT's final SFT
started from the rehearsed model raised its geo THS by 12 points). A metric's tolerance is its
`<metric>_ci_half` (a 95% half-width), or twice its `<metric>_spread` if larger: the largest distance
from the baseline of the same row in runs that should agree with it (other training seeds, other
kernels; `regress --update --variation`), so tolerances come from measured variation and none is zero.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.reporting import trainsets
from harness.run.layout import parse_label

HIGHER_IS_BETTER = ("pc", "ths", "truthfulness")
LOWER_IS_BETTER = ("pw", "over_refusal")
NEUTRAL = ("pr",)
METRICS = ("pc", "pw", "pr", "ths", "over_refusal", "truthfulness")
GATED = METRICS + trainsets.METRICS
KEY = ("model", "method", "task")
# Float noise from summing fractions along different paths is not a move.
EPS = 1e-9

FAILING = {"worse", "moved", "missing", "undefined"}


@dataclass(frozen=True)
class Change:
    row: tuple[str, str, str]
    metric: str | None
    baseline: float | None
    result: float | None
    tolerance: float | None
    verdict: str    # worse, moved, undefined, missing: fail; better, within, info, changed, new: reported

    @property
    def failed(self) -> bool:
        return self.verdict in FAILING

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.result is None:
            return None
        return self.result - self.baseline


@dataclass
class Report:
    changes: list[Change] = field(default_factory=list)
    compared: int = 0           # baseline rows found in the results

    @property
    def failures(self) -> list[Change]:
        return [c for c in self.changes if c.failed]

    @property
    def failed(self) -> bool:
        return bool(self.failures)


def key(r: dict) -> tuple[str, str, str]:
    missing = [k for k in KEY if k not in r]
    if missing:
        raise ValueError(f"row {r} has no {', '.join(missing)}")
    return tuple(r[k] for k in KEY)


def index(rows: list[dict], what: str) -> dict[tuple, dict]:
    out: dict[tuple, dict] = {}
    for r in rows:
        if key(r) in out:
            raise ValueError(f"{what} have two rows for {'/'.join(key(r))}; "
                             "gate one run (one model and preset) at a time")
        out[key(r)] = r
    return out


def tolerance_of(baseline: dict, brow: dict, metric: str) -> float:
    """Row tolerance, else the file's, else the larger of the baseline's CI half-width and measured
    spread, else exact."""
    for source in (brow.get("tolerance") or {}, baseline.get("tolerance") or {}):
        if source.get(metric) is not None:
            return float(source[metric])
    widths = [float(brow[f"{metric}_ci_half"])] if brow.get(f"{metric}_ci_half") is not None else []
    if brow.get(f"{metric}_spread") is not None:
        widths.append(SPREAD_FACTOR * float(brow[f"{metric}_spread"]))
    return max(widths, default=0.0)


# A measured spread is one draw of the variation (one other kernel, two other seeds); another machine's
# may be larger, so the tolerance is twice it (the geo leg's float32 run moved CRaFT's vanilla flow by
# 0.11 where its interval's half-width is 0.09).
SPREAD_FACTOR = 2.0


def two_sided(baseline: dict, task: str) -> bool:
    """Whether a row's moves fail in both directions: training sets always, tasks the file lists."""
    return task.startswith(trainsets.PREFIX) or task in (baseline.get("two_sided") or [])


def judge(metric: str, base: float | None, result: float | None, tol: float, both: bool = False) -> str | None:
    """The verdict of one metric, None when it did not move; `both`: a move either way beyond `tol` fails."""
    if base is None or result is None:
        if base is None and result is None:
            return None
        # THS turning undefined (the reference stopped erring) loses the headline figure.
        return "undefined" if metric == "ths" and base is not None else "changed"
    delta = result - base
    if abs(delta) <= EPS:
        return None
    if both:
        return "moved" if abs(delta) > tol + EPS else "within"
    if metric in NEUTRAL:
        return "info"
    bad = -delta if metric in HIGHER_IS_BETTER else delta
    if bad > tol + EPS:
        return "worse"
    return "better" if bad < 0 else "within"


def compare(baseline: dict, results_rows: list[dict]) -> Report:
    """Every baseline row against the results row of the same (model, method, task)."""
    brows = index(baseline.get("rows", []), "baseline rows")
    results = index(results_rows, "results")
    report = Report()
    for k, brow in brows.items():
        if k not in results:
            report.changes.append(Change(k, None, None, None, None, "missing"))
            continue
        report.compared += 1
        both = two_sided(baseline, k[2])
        for metric in GATED:
            if metric not in brow:
                continue
            tol = tolerance_of(baseline, brow, metric)
            verdict = judge(metric, brow[metric], results[k].get(metric), tol, both)
            if verdict:
                report.changes.append(Change(k, metric, brow[metric], results[k].get(metric), tol, verdict))
    report.changes += [Change(k, None, None, None, None, "new") for k in results if k not in brows]
    return report


def make_baseline(rows: list[dict], ci_half: dict | None = None, tolerance: dict | None = None,
                  variation: list[dict] | None = None) -> dict:
    """A baseline file from leaderboard (and training-set) rows.

    `ci_half` maps (model, method, task) to {metric: CI half-width}; without it, rows that carry
    `<metric>_lo` / `<metric>_hi` (a published leaderboard.json) give their own half-widths, each at
    least the Wilson half-width of its share (wilson_halves): a percentile bootstrap of a share at 0%
    or 100% is a point, and a tolerance of zero fails a correct harness on a machine whose kernels
    round differently. The reference's THS and over-refusal are 0 by definition and are not gated.
    `variation`: rows of runs that should agree with these (other training seeds, other kernels);
    each metric's largest distance from its baseline row is kept as `<metric>_spread`.
    """
    out = []
    spreads = spread(rows, variation or [])
    refs = {(r["model"], r["task"]): r for r in rows if r["method"] == REFERENCE}
    for r in rows:
        metrics = [m for m in GATED if m in r] if r["task"].startswith(trainsets.PREFIX) else METRICS
        b = {k: r[k] for k in KEY} | {m: r.get(m) for m in metrics
                                      if not (r["method"] == REFERENCE and m in DEFINITIONAL)}
        halves = (ci_half or {}).get(key(r)) or _halves(r)
        floors = wilson_halves(r, refs.get((r["model"], r["task"]))) if not ci_half else {}
        for m in sorted(set(halves) | set(floors)):
            widths = [v for v in (halves.get(m), floors.get(m)) if v is not None]
            if m in b and widths:
                b[f"{m}_ci_half"] = max(widths)
        b |= {f"{m}_spread": v for m, v in spreads.get(key(r), {}).items() if m in b}
        out.append(b)
    return {"tolerance": dict(tolerance or {}), "rows": out}


REFERENCE = "init-basic"
DEFINITIONAL = ("ths", "over_refusal")     # the reference against itself


def wilson_halves(r: dict, ref: dict | None) -> dict:
    """Half the 95% Wilson interval of each share of a row: Pc, Pw, Pr and truthfulness over its n
    questions, over-refusal over the reference's right answers."""
    from harness.scoring.metrics import wilson
    n = r.get("n")
    if not n:
        return {}
    dens = {m: n for m in ("pc", "pw", "pr", "truthfulness")}
    if ref is not None and ref.get("pc") is not None:
        dens["over_refusal"] = round(ref["pc"] * ref["n"])
    out = {}
    for m, den in dens.items():
        if r.get(m) is not None and den:
            lo, hi = wilson(round(r[m] * den), den)
            out[m] = (hi - lo) / 2
    return out


def spread(rows: list[dict], variation: list[dict]) -> dict:
    """Per row key, each metric's largest |variation value - row value| over the variation rows of the
    same (model, method, task), whatever their training seed (`craft@seed1` counts for `craft`)."""
    base = {key(r): r for r in rows}
    out: dict[tuple, dict] = {}
    for v in variation:
        k = (v["model"], parse_label(v["method"])[0], v["task"])
        b = base.get(k)
        if b is None:
            continue
        d = out.setdefault(k, {})
        for m in GATED:
            if b.get(m) is not None and v.get(m) is not None:
                d[m] = max(d.get(m, 0.0), abs(v[m] - b[m]))
    return out


def _halves(r: dict) -> dict:
    return {m: (r[f"{m}_hi"] - r[f"{m}_lo"]) / 2 for m in GATED
            if r.get(f"{m}_lo") is not None and r.get(f"{m}_hi") is not None}


def updated(baseline: dict, rows: list[dict], variation: list[dict] | None = None) -> dict:
    """The baseline rewritten from `rows`, keeping the file's settings and each surviving row's
    tolerances.

    Rows without CIs keep their old CI half-widths: the results of a plain `bench` carry none,
    and the spread of a metric changes far less than the metric itself. Without `variation`, the
    rows keep their measured spreads too.
    """
    old = index(baseline.get("rows", []), "baseline rows")
    new = make_baseline(rows, tolerance=baseline.get("tolerance"), variation=variation)
    bootstrapped = {key(r): _halves(r) for r in rows}
    for b in new["rows"]:
        prev = old.get(key(b), {})
        for m in GATED:
            if m not in bootstrapped[key(b)] and prev.get(f"{m}_ci_half") is not None and m in b:
                b[f"{m}_ci_half"] = max(prev[f"{m}_ci_half"], b.get(f"{m}_ci_half") or 0.0)
            if variation is None and prev.get(f"{m}_spread") is not None and m in b:
                b[f"{m}_spread"] = prev[f"{m}_spread"]
        if prev.get("tolerance"):
            b["tolerance"] = dict(prev["tolerance"])
    return {**{k: v for k, v in baseline.items() if k not in new}, **new}


def _fmt(v: float | None, sign: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{100 * v:+.2f}" if sign else f"{100 * v:.2f}"


_STYLE = {"worse": "bold red", "undefined": "bold red", "missing": "bold red", "better": "green",
          "new": "cyan", "within": "yellow"}


def table(report: Report):
    """A rich table of what moved: row, metric, baseline, result, delta, tolerance, verdict (in %)."""
    from rich.table import Table
    t = Table(title=f"regression gate: {len(report.failures)} failed, {len(report.changes)} moved, "
                    f"{report.compared} rows compared (figures in %)")
    for col in ("row", "metric", "baseline", "result", "delta", "tolerance", "verdict"):
        t.add_column(col, justify="left" if col in ("row", "metric", "verdict") else "right", no_wrap=True)
    for c in report.changes:
        verdict = ("FAIL " if c.failed else "") + c.verdict
        style = _STYLE.get(c.verdict, "")
        t.add_row("/".join(c.row), c.metric or "-", _fmt(c.baseline), _fmt(c.result),
                  _fmt(c.delta, sign=True), "" if c.tolerance is None else _fmt(c.tolerance),
                  f"[{style}]{verdict}[/{style}]" if style else verdict)
    return t


def print_report(report: Report) -> None:
    from rich.console import Console
    console = Console()
    if not console.is_terminal:        # CI logs: rich would squeeze the table into 80 columns
        console = Console(width=max(console.width, 140))
    console.print(table(report))
    for c in report.failures:          # one plain line each, greppable whatever the table width
        what = f"{c.metric} {_fmt(c.baseline)} -> {_fmt(c.result)}" if c.metric else "row"
        console.print(f"FAILED {'/'.join(c.row)}: {what} ({c.verdict})", markup=False, soft_wrap=True)
    console.print("[bold red]FAILED[/bold red]" if report.failed else "[green]passed[/green]")
