"""The run directory's layout, in one place: stage names (a stage's folder is its name) and the
files the leaderboard, the statistics and publishing read.

    OUT/runs/<hash>/config.json                      resolved config (the hash input)
    OUT/runs/<hash>/timings.json                     seconds and peak RSS of each stage that ran
    OUT/runs/<hash>/<kind>/pool|query_m0|greedy_m0|rehearse|query_rehearsed/
    OUT/runs/<hash>/<kind>/<method>/build|crss|train/
    OUT/runs/<hash>/<kind>/<method>/train@seed<s>/   the same training set under training seed s
    OUT/runs/<hash>/tests/<task>/                    the test questions
    OUT/runs/<hash>/eval/<label>/<task>/records.jsonl

A label is a method, or `<method>@seed<s>` for a model trained under a training seed s other than
the run's data seed (config `seed`: pool, samples, test questions, draws, rehearsal); an unsuffixed
trained method was trained under the data seed, so runs without --seeds keep their layout.
    OUT/leaderboard.json|csv|md                      the last bench's table
    OUT/cache/                                       generations and trained models, shared by runs
"""
from __future__ import annotations

from pathlib import Path

CONFIG, TIMINGS, DONE = "config.json", "timings.json", "DONE"
RECORDS, KNOWLEDGE, ITEMS, ROWS = "records.jsonl", "knowledge.jsonl", "items.jsonl", "rows.jsonl"
MANIFEST, SFT_DATA, SELECTION, CRSS, TRAIN = "manifest.json", "sft_data.jsonl", "selection.jsonl", "crss.json", "train.json"
LEADERBOARD = "leaderboard.json"
CACHE, GENERATIONS = "cache", "generations.sqlite"   # OUT/cache/: the generation cache, trained models
SHARDS = "shards"            # OUT/cache/shards/<hash>/: generations a run's workers wrote, merged after
LOCKS, LOGS = ".locks", "logs"   # OUT/runs/<hash>/.locks/, logs/: a stage's lock and its worker's log
SIDE_EFFECTS = "side_effects.json"           # the side-effect tasks' rows (harness.scoring.side_effects)
TRAINING_SETS = "training_sets.json"         # each method's training-set rows (harness.reporting.trainsets)
REHEARSAL = "rehearsal.json"                 # the rehearsal set: thresholds met, fallback used
LM_EVAL_RESULTS = "lm_eval_results.json"     # lm-eval's own results, beside the records
MODEL, SFT_CONFIG = "model", "sft_config.json"   # a training stage's model folder; its SFT config (launcher)
FEATURES, FEATURE_IDS = "features.npy", "feature_ids.json"   # the gradients stage's features, row by row
CONFIDENCE_ROWS = "confidence.jsonl"         # R-Tuning's confidence of each test answer
COLUMNS = "columns.jsonl"                    # a method's own stage: columns for its select, by id


def pool(kind: str) -> str:
    return f"{kind}/pool"


def query(kind: str, rehearsed: bool = False) -> str:
    return f"{kind}/query_rehearsed" if rehearsed else f"{kind}/query_m0"


def greedy(kind: str) -> str:
    return f"{kind}/greedy_m0"


def gradients(kind: str) -> str:
    return f"{kind}/gradients"


def rehearse(kind: str) -> str:
    return f"{kind}/rehearse"


def build(kind: str, method: str) -> str:
    return f"{kind}/{method}/build"


def crss(kind: str, method: str) -> str:
    return f"{kind}/{method}/crss"


def train(kind: str, method: str, seed: int | None = None) -> str:
    return seeded(f"{kind}/{method}/train", seed)


def sft(kind: str, method: str) -> str:
    """The SFT a preference stage starts from."""
    return f"{kind}/{method}/sft"


SEED_MARK = "@seed"


def seeded(name: str, seed: int | None) -> str:
    """A stage or method name under a training seed (unchanged for None: the data seed)."""
    return name if seed is None else f"{name}{SEED_MARK}{seed}"


def parse_label(label: str) -> tuple[str, int | None]:
    """`craft@seed1` -> ("craft", 1); `craft` -> ("craft", None)."""
    method, mark, seed = label.partition(SEED_MARK)
    if not mark:
        return label, None
    if not seed.isdigit():
        raise ValueError(f"malformed method label {label!r}: expected <method>{SEED_MARK}<integer>")
    return method, int(seed)


def tests(task: str) -> str:
    return f"tests/{task}"


def evaluation(method: str, task: str) -> str:
    return f"eval/{method}/{task}"


def shard(stage: str, index: int, shards: int) -> str:
    """One of `shards` slices of a stage's questions (data parallelism), joined by the stage."""
    return f"shards/{stage}/{index + 1}of{shards}"


def shard_bounds(n: int, index: int, shards: int) -> tuple[int, int]:
    """[lo, hi) of slice `index` of `shards` of n questions (empty where shards outnumber them)."""
    return n * index // shards, n * (index + 1) // shards


def confidence(method: str, task: str) -> str:
    """R-Tuning's confidence of each test answer and the AP (r-tuning-unsure)."""
    return f"confidence/{method}/{task}"


AP = "ap.json"


def flat(stage: str) -> str:
    """A stage's name as one file name (its locks, logs and jobs)."""
    return stage.replace("/", "__")


def run_dir(out: Path, run_hash: str) -> Path:
    return Path(out) / "runs" / run_hash


def records(run_dir: Path, method: str, task: str) -> Path:
    return Path(run_dir) / evaluation(method, task) / RECORDS


def all_records(run_dir: Path) -> list[tuple[str, str]]:
    """(label, task) of every records file of a run (labels: see the module docstring)."""
    return sorted((p.parent.parent.name, p.parent.name) for p in Path(run_dir).glob(f"eval/*/*/{RECORDS}"))


def build_manifest(run_dir: Path, kind: str, method: str) -> Path:
    return Path(run_dir) / build(kind, method) / MANIFEST
