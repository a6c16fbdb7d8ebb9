"""Per-task figures of a published leaderboard: the THS plane and Pc/Pw/Pr bars, as PNG and SVG.

matplotlib's object API (a bare `Figure`, no pyplot) keeps no global figure state and needs no
display, so plotting works on headless machines and inside tests.
"""
from __future__ import annotations

from pathlib import Path

from harness.reporting.leaderboard import by_task, flags_text
from harness.scoring.metrics import REFERENCE

# Fixed colours so Pc/Pw/Pr read the same in every figure.
CLASS_COLOURS = {"pc": "#2e7d32", "pw": "#c62828", "pr": "#9e9e9e", "pu": "#f9a825"}
_MARKERS = "osD^v<>Pp*"


def task_plots(rows: list[dict], out_dir: Path) -> list[Path]:
    """Write `<task>_ths_plane.{png,svg}` and `<task>_bars.{png,svg}` for every task in rows."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for task, task_rows in by_task(rows).items():
        paths += save(ths_plane(task, task_rows), out_dir / f"{task}_ths_plane")
        paths += save(bars(task, task_rows), out_dir / f"{task}_bars")
    return paths


def save(fig, stem: Path) -> list[Path]:
    import matplotlib
    png, svg = stem.parent / f"{stem.name}.png", stem.parent / f"{stem.name}.svg"
    # Text stays text in the SVG (small, searchable), and a fixed hash salt and no date make the
    # SVG byte-identical across runs, so regenerated leaderboards diff cleanly.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "rait-harness"}):
        fig.savefig(png, dpi=110, bbox_inches="tight")
        fig.savefig(svg, bbox_inches="tight", metadata={"Date": None})
    return [png, svg]


def label(r: dict, rows: list[dict]) -> str:
    """The method, prefixed by the model when several models share the figure."""
    several = len({(x["model"], x["run"]) for x in rows}) > 1
    return f"{r['model']}:{r['method']}" if several else r["method"]


def _err(r: dict, metric: str):
    """Asymmetric whisker lengths in %; a percentile interval can sit a hair off the point."""
    lo, hi = r.get(f"{metric}_lo"), r.get(f"{metric}_hi")
    if lo is None or hi is None:
        return None
    return [[max(0.0, 100 * (r[metric] - lo))], [max(0.0, 100 * (hi - r[metric]))]]


def ths_plane(task: str, rows: list[dict]):
    """Pc against Pw; THS is zero on the ray through init-basic and positive below it.

    The axes zoom to the points and their intervals (a 135M model's Pc of 5-15% would otherwise sit in
    a corner), and methods are told apart by a legend beside the plot rather than by labels that
    collide when points crowd. With one model each method has its own colour; with several, a
    model's ray and points share a colour and the marker tells the methods apart.
    """
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7.6, 5.2))
    ax = fig.add_subplot()
    groups = list(dict.fromkeys((r["model"], r["run"]) for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    xs = [100 * (r.get("pc_hi") if r.get("pc_hi") is not None else r["pc"]) for r in rows]
    ys = [100 * (r.get("pw_hi") if r.get("pw_hi") is not None else r["pw"]) for r in rows]
    x_max = min(100.0, max(xs + [1.0]) * 1.15 + 1)
    y_max = min(100.0, max(ys + [1.0]) * 1.08 + 1)
    x_min = max(0.0, min(100 * (r.get("pc_lo") if r.get("pc_lo") is not None else r["pc"]) for r in rows) * 0.85 - 1)
    y_min = max(0.0, min(100 * (r.get("pw_lo") if r.get("pw_lo") is not None else r["pw"]) for r in rows) * 0.92 - 1)
    # a margin, so a point at 0% or 100% is drawn whole rather than cut by the frame
    x_pad, y_pad = 0.03 * (x_max - x_min), 0.03 * (y_max - y_min)
    x_min, x_max, y_min, y_max = x_min - x_pad, x_max + x_pad, y_min - y_pad, y_max + y_pad
    for ref in (r for r in rows if r["method"] == REFERENCE):
        pc0, pw0 = 100 * ref["pc"], 100 * ref["pw"]
        if max(pc0, pw0) > 0:                          # a reference that refuses everything has no ray
            scale = 100 / max(pc0, pw0)
            colour = "0.5" if len(groups) == 1 else f"C{groups.index((ref['model'], ref['run'])) % 10}"
            ax.plot([0, pc0 * scale], [0, pw0 * scale], linestyle="--", color=colour, linewidth=1,
                    label=f"THS = 0 ({label(ref, rows)})")
    seen: dict[tuple, list[str]] = {}          # methods already drawn at a point
    for i, r in enumerate(rows):
        x, y = 100 * r["pc"], 100 * r["pw"]
        g, m = groups.index((r["model"], r["run"])), methods.index(r["method"])
        colour, marker = ((f"C{i % 10}", _MARKERS[(i // 10) % len(_MARKERS)]) if len(groups) == 1
                          else (f"C{g % 10}", _MARKERS[m % len(_MARKERS)]))
        # An untrained or short method is drawn hollow and says so in the legend; a method at the point
        # of one already drawn gets a larger hollow ring around it and says whose point it shares.
        flags = flags_text(r, short=True)
        under = seen.setdefault((round(x, 6), round(y, 6)), [])
        note = [flags] if flags else []
        if under:
            note.append(f"same point as {', '.join(under)}")
        ax.errorbar(x, y, xerr=_err(r, "pc"), yerr=_err(r, "pw"), fmt=marker, color=colour,
                    capsize=3, markersize=5 + 4 * len(under),
                    markerfacecolor="none" if flags or under else colour,
                    label=label(r, rows) + (f" ({'; '.join(note)})" if note else ""))
        under.append(label(r, rows))
    ax.set(xlim=(x_min, x_max), ylim=(y_min, y_max), xlabel="Pc: correct (%)", ylabel="Pw: wrong (%)",
           title=f"{task}: THS plane (95% CI whiskers; zoomed to the data)")
    ax.grid(True, linewidth=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, borderaxespad=0)
    return fig


def bars(task: str, rows: list[dict]):
    """Stacked Pc, Pw, Pr and the unparsed share per method, each bar labelled with its n: every answer
    is exactly one of the four, so bars reach 100."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(max(4.0, 1.0 + 0.9 * len(rows)), 4.2))
    ax = fig.add_subplot()
    names = [f"{label(r, rows)}\nn={r['n']}" for r in rows]
    bottom = [0.0] * len(rows)
    for metric, name in (("pc", "Pc (correct)"), ("pw", "Pw (wrong)"), ("pr", "Pr (refused)"), ("pu", "unparsed")):
        heights = [100 * (r.get(metric) or 0.0) for r in rows]
        ax.bar(range(len(rows)), heights, bottom=bottom, color=CLASS_COLOURS[metric], label=name)
        bottom = [b + h for b, h in zip(bottom, heights)]
    ax.set_xticks(range(len(rows)), names, rotation=30, ha="right", fontsize=8)
    ax.set(ylim=(0, 100), ylabel="% of test questions", title=f"{task}: answers by class")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return fig
