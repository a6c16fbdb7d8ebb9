"""Datasets: offline JSONL in the Hugging Face field layout, or the hub; one item format for the pipeline."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.io import read_jsonl
from harness.prompts import LETTERS


@dataclass(frozen=True)
class Source:
    hub_path: str
    hub_name: str | None
    splits: tuple[str, ...]
    kind: str                 # "open" or "choice"
    hub_splits: tuple = ()    # (split, hub config, hub split) where a split lives in another hub config


DATASETS = {
    # unfiltered_validation: TriviaQA unfiltered dev (11,313), the CRaFT paper's TriviaQA test set.
    "triviaqa": Source("trivia_qa", "rc.nocontext", ("train", "validation", "unfiltered_validation"), "open",
                       hub_splits=(("unfiltered_validation", "unfiltered.nocontext", "validation"),)),
    "nq_open": Source("nq_open", None, ("validation",), "open"),
    "mmlu": Source("cais/mmlu", "all", ("dev", "validation", "test"), "choice"),
    "arc_challenge": Source("allenai/ai2_arc", "ARC-Challenge", ("validation", "test"), "choice"),
}


def source(name: str) -> Source:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    return DATASETS[name]


def local_file(data_dir: Path, name: str, split: str) -> Path:
    return Path(data_dir) / name / f"{split}.jsonl"


def load_rows(name: str, split: str, data_dir: Path | None) -> list[dict]:
    """Rows exactly as the Hugging Face dataset has them."""
    src = source(name)
    if split not in src.splits:
        raise ValueError(f"dataset {name!r} has no split {split!r}; valid: {', '.join(src.splits)}")
    if data_dir is not None:
        path = local_file(data_dir, name, split)
        if not path.is_file():
            raise FileNotFoundError(
                f"dataset {name} split {split}: expected the file {path}. Point the harness at a "
                f"data directory laid out as <dataset>/<split>.jsonl with --data-dir DIR or "
                f"HARNESS_DATA_DIR=DIR (e.g. ../shared/data), or unset both to load from the hub.")
        return read_jsonl(path)
    return _hub_rows(src, name, split)


def _hub_rows(src: Source, name: str, split: str) -> list[dict]:
    from harness.models import offline
    if offline():
        raise FileNotFoundError(
            f"dataset {name} split {split}: HF_HUB_OFFLINE is set and no data directory was given; "
            f"pass --data-dir DIR or set HARNESS_DATA_DIR=DIR (laid out as <dataset>/<split>.jsonl).")
    import datasets
    name_, split_ = next(((n, s) for sp, n, s in src.hub_splits if sp == split), (src.hub_name, split))
    return [dict(r) for r in datasets.load_dataset(src.hub_path, name_, split=split_)]


def triviaqa_answers(answer: dict) -> list[str]:
    """The answers the CRaFT code scores against (proc_triviaqa.py): value, normalized value,
    aliases and normalized aliases, without empties and repeats."""
    values = [answer.get("value"), answer.get("normalized_value"), *answer.get("aliases", []),
              *answer.get("normalized_aliases", [])]
    return list(dict.fromkeys(v for v in values if v))


def to_item(name: str, split: str, index: int, row: dict) -> dict:
    """One question in the pipeline's format: id, question, and either aliases or choices + gold."""
    if name == "triviaqa":
        ans = row["answer"]
        return {"id": row["question_id"] or f"triviaqa/{split}/{index}", "question": row["question"],
                "aliases": triviaqa_answers(ans), "answer": ans["value"] or ans["aliases"][0]}
    if name == "nq_open":
        return {"id": f"nq_open/{split}/{index}", "question": row["question"],
                "aliases": list(row["answer"]), "answer": row["answer"][0]}
    if name == "mmlu":
        return {"id": f"mmlu/{row['subject']}/{split}/{index}", "question": row["question"],
                "choices": list(row["choices"]), "gold": LETTERS[row["answer"]],
                "answer": LETTERS[row["answer"]], "subject": row["subject"]}
    if name == "arc_challenge":
        labels = list(row["choices"]["label"])
        gold = LETTERS[labels.index(row["answerKey"])]
        return {"id": row["id"], "question": row["question"], "choices": list(row["choices"]["text"]),
                "gold": gold, "answer": gold, "subject": None}
    raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")


def load_items(name: str, split: str, data_dir: Path | None) -> list[dict]:
    return [to_item(name, split, i, r) for i, r in enumerate(load_rows(name, split, data_dir))]
