"""The harness from Python (a notebook, a script): run a bench, read a run's records, publish, each
returning a pandas DataFrame. Nothing is printed but progress, and `bench` leaves OUT/leaderboard.*
alone (that file belongs to the CLI's last invocation), so calls never overwrite another's table.

    from harness import api
    rows = api.bench(["craft", "rait"], ["triviaqa"], preset="tiny", out="results/nb")
    recs = api.records(rows.run[0], out="results/nb")          # one row per (method, task, question)
    recs.groupby(["method", "task"])["class"].value_counts(normalize=True)
    table = api.publish(rows.run.unique(), "results/nb/published", out="results/nb")
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from harness.run import layout
from harness.run.io import read_jsonl


def config(preset: str = "smoke", model: str | None = None, **fields):
    """A RunConfig: a preset by name (or a YAML file), a model alias/hub id/directory, and any
    RunConfig field (seed, train_seeds, limit, engine, dtype, batch_size, data_dir, ...)."""
    from harness.run.config import RunConfig
    from harness.run.presets import preset as named
    from harness.engines.models import DEFAULT_MODEL
    if "train_seeds" in fields:
        fields["train_seeds"] = tuple(fields["train_seeds"])
    return RunConfig(model=model or DEFAULT_MODEL, preset=named(preset), **fields)


def bench(methods: Iterable[str], tasks: Iterable[str], preset: str = "smoke", model: str | None = None,
          out: str | Path = "results", **fields) -> pd.DataFrame:
    """`harness bench` without the table: one row per (method label, task) with every metric and
    the `run` hash; the run directory is OUT/runs/<run>. Finished stages are reused."""
    from harness.bench import bench as run_bench
    from harness.reporting.leaderboard import COLUMNS
    rows = run_bench(config(preset, model, **fields), list(methods), list(tasks), Path(out), table=False)
    return pd.DataFrame(rows, columns=COLUMNS)


def _run_dir(run: str | Path, out: str | Path | None) -> Path:
    path = Path(run)
    if (path / layout.CONFIG).is_file():
        return path
    if out is not None and (layout.run_dir(Path(out), str(run)) / layout.CONFIG).is_file():
        return layout.run_dir(Path(out), str(run))
    raise FileNotFoundError(f"{run} is neither a run directory (with config.json) nor a run hash under "
                            f"{Path(out) / 'runs' if out else 'OUT/runs (pass out=)'}")


def records(run: str | Path, out: str | Path | None = None, method: str | None = None,
            task: str | None = None) -> pd.DataFrame:
    """The per-sample records of a run (a run directory, or a hash with `out`): one row per question
    and method label, with `method`, `seed` (training seed label, None for the data seed or an
    untuned method) and `task` columns beside each record's own fields (id, prompt, answer, class...)."""
    run_dir = _run_dir(run, out)
    frames = []
    for label, t in layout.all_records(run_dir):
        base, seed = layout.parse_label(label)
        if (method is None or method in (label, base)) and (task is None or task == t):
            df = pd.DataFrame(read_jsonl(layout.records(run_dir, label, t)))
            df.insert(0, "task", t)
            df.insert(0, "seed", seed)
            df.insert(0, "method", label)
            frames.append(df)
    if not frames:
        raise ValueError(f"{run_dir} has no records for method={method!r}, task={task!r}")
    return pd.concat(frames, ignore_index=True)


def leaderboard(runs: Iterable[str | Path], out: str | Path | None = None, resamples: int = 1000,
                seed: int = 0) -> pd.DataFrame:
    """The published rows (bootstrap CIs included) of one or more runs, computed in memory."""
    from harness.reporting.leaderboard import PUBLISH_COLUMNS
    from harness.reporting.publish import run_rows
    rows = [r for run in runs for r in run_rows(_run_dir(run, out), resamples, seed)]
    return pd.DataFrame(rows, columns=PUBLISH_COLUMNS)


def publish(runs: Iterable[str | Path], to: str | Path, out: str | Path | None = None, resamples: int = 1000,
            seed: int = 0, compare: Iterable[str] = ("rait", "craft")) -> pd.DataFrame:
    """`harness leaderboard publish` into `to` (Markdown, CSV, JSON, HTML, plots); returns its rows."""
    from harness.reporting.leaderboard import PUBLISH_COLUMNS
    from harness.reporting.publish import publish as run_publish
    rows = run_publish([_run_dir(r, out) for r in runs], Path(to), resamples, seed, tuple(compare))
    return pd.DataFrame(rows, columns=PUBLISH_COLUMNS)


def side_effects(runs: Iterable[str | Path], out: str | Path | None = None, resamples: int = 1000,
                 seed: int = 0) -> pd.DataFrame:
    """The side-effect rows of one or more runs (selfaware, xstest, gsm8k: harness.scoring.side_effects), one
    per (method label, task, metric): value, 95% interval, paired difference from init-basic."""
    from harness.reporting.publish import run_side_rows
    from harness.scoring.side_effects import COLUMNS
    rows = [r for run in runs for r in run_side_rows(_run_dir(run, out), resamples, seed)]
    return pd.DataFrame(rows, columns=COLUMNS)
