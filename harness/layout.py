"""The run directory's layout, in one place: stage names (a stage's folder is its name) and the
files the leaderboard, the statistics and publishing read.

    OUT/runs/<hash>/config.json                      resolved config (the hash input)
    OUT/runs/<hash>/timings.json                     seconds and peak RSS of each stage that ran
    OUT/runs/<hash>/<kind>/pool|query_m0|rehearse|query_rehearsed/
    OUT/runs/<hash>/<kind>/<method>/build|crss|train/
    OUT/runs/<hash>/tests/<task>/                    the test questions
    OUT/runs/<hash>/eval/<method>/<task>/records.jsonl
    OUT/leaderboard.json|csv|md                      the last bench's table
    OUT/cache/                                       generations and trained models, shared by runs
"""
from __future__ import annotations

from pathlib import Path

CONFIG, TIMINGS, DONE = "config.json", "timings.json", "DONE"
RECORDS, KNOWLEDGE, ITEMS, ROWS = "records.jsonl", "knowledge.jsonl", "items.jsonl", "rows.jsonl"
MANIFEST, SFT_DATA, SELECTION, CRSS, TRAIN = "manifest.json", "sft_data.jsonl", "selection.jsonl", "crss.json", "train.json"
LEADERBOARD = "leaderboard.json"


def pool(kind: str) -> str:
    return f"{kind}/pool"


def query(kind: str, rehearsed: bool = False) -> str:
    return f"{kind}/query_rehearsed" if rehearsed else f"{kind}/query_m0"


def rehearse(kind: str) -> str:
    return f"{kind}/rehearse"


def build(kind: str, method: str) -> str:
    return f"{kind}/{method}/build"


def crss(kind: str, method: str) -> str:
    return f"{kind}/{method}/crss"


def train(kind: str, method: str) -> str:
    return f"{kind}/{method}/train"


def tests(task: str) -> str:
    return f"tests/{task}"


def evaluation(method: str, task: str) -> str:
    return f"eval/{method}/{task}"


def run_dir(out: Path, run_hash: str) -> Path:
    return Path(out) / "runs" / run_hash


def records(run_dir: Path, method: str, task: str) -> Path:
    return Path(run_dir) / evaluation(method, task) / RECORDS


def all_records(run_dir: Path) -> list[tuple[str, str]]:
    """(method, task) of every records file of a run."""
    return sorted((p.parent.parent.name, p.parent.name) for p in Path(run_dir).glob(f"eval/*/*/{RECORDS}"))


def build_manifest(run_dir: Path, kind: str, method: str) -> Path:
    return Path(run_dir) / build(kind, method) / MANIFEST
