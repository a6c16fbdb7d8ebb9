"""Tiny synthetic run directories (config.json + per-sample records) for the publishing tests."""
from __future__ import annotations

import random
from pathlib import Path

from harness.run.io import write_json, write_jsonl

# P(method class | init-basic class): what a refusal-aware method does to each kind of question.
TRANSITIONS = {
    "init-refuse": {"correct": (0.85, 0.05, 0.10), "wrong": (0.10, 0.60, 0.30), "refused": (0, 0, 1)},
    "craft": {"correct": (0.95, 0.00, 0.05), "wrong": (0.10, 0.20, 0.70), "refused": (0, 0, 1)},
}
CLASSES = ("correct", "wrong", "refused")


def base_classes(n: int, rng: random.Random) -> list[str]:
    return rng.choices(CLASSES, weights=(0.5, 0.4, 0.1), k=n)


def write_records(run_dir: Path, method: str, task: str, classes: list[str]) -> None:
    rows = [{"id": f"{task}-{i}", "question": f"Q{i}?", "prompt": f"<user>Q{i}?</user>",
             "answer": {"correct": "gold", "wrong": "other", "refused": "I don't know"}[c],
             "gold": "gold", "class": c} for i, c in enumerate(classes)]
    write_jsonl(run_dir / "eval" / method / task / "records.jsonl", rows)


def make_run(root: Path, run_hash: str = "aaaaaaaaaaaa", model: str = "tiny-model",
             tasks: dict | None = None, seed: int = 0, methods=("init-refuse", "craft")) -> Path:
    """A run directory with init-basic and `methods` on each task (task -> number of questions)."""
    run_dir = Path(root) / "runs" / run_hash
    write_json(run_dir / "config.json", {"hash": run_hash, "harness": "0.1.0", "git_sha": "0123456789abcdef",
                                         "config": {"model": model, "preset": {"name": "smoke"}, "seed": 0}})
    rng = random.Random(seed)
    for task, n in (tasks or {"triviaqa": 36, "mmlu": 24}).items():
        base = base_classes(n, rng)
        write_records(run_dir, "init-basic", task, base)
        for m in methods:
            moved = [rng.choices(CLASSES, weights=TRANSITIONS[m][c])[0] for c in base]
            write_records(run_dir, m, task, moved)
    return run_dir
