"""Datasets: offline JSONL in the Hugging Face field layout, or the hub; one item format for the pipeline.
Which datasets exist, their hub paths and splits come from the task YAMLs (harness.tasks)."""
from __future__ import annotations

from pathlib import Path

from harness.run.io import read_jsonl
from harness.tasks import Source, module, registry


def datasets() -> dict[str, Source]:
    """The datasets the task YAMLs declare (tasks/<task>/<task>.yaml, metadata.dataset)."""
    return registry()[1]


def source(name: str) -> Source:
    known = datasets()
    if name not in known:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(known)}")
    return known[name]


def local_file(data_dir: Path, name: str, split: str) -> Path:
    return Path(data_dir) / name / f"{split}.jsonl"


def load_rows(name: str, split: str, data_dir: Path | None) -> list[dict]:
    """Rows exactly as the Hugging Face dataset has them."""
    src = source(name)
    if split not in src.splits:
        raise ValueError(f"dataset {name!r} has no split {split!r}; valid: {', '.join(src.splits)}")
    if src.generated:
        return module(src.task).rows(split)
    if data_dir is not None:
        path = local_file(data_dir, name, split)
        if not path.is_file():
            raise FileNotFoundError(
                f"dataset {name} split {split}: expected the file {path}. Point the harness at a "
                f"data directory laid out as <dataset>/<split>.jsonl with --data-dir DIR or "
                f"HARNESS_DATA_DIR=DIR (e.g. ../shared/data), or unset both to load from the hub.")
        return read_jsonl(path)
    return _hub_rows(src, name, split)


def check_available(needs: list[tuple[str, str]], data_dir: Path | None) -> None:
    """Every (dataset, split) a run reads is there before its first stage: the data directory's files,
    or, without one, a hub that may be used."""
    from harness.engines.models import offline
    needs = list(dict.fromkeys(needs))
    for name, split in needs:
        src = source(name)
        if split not in src.splits:
            raise ValueError(f"dataset {name!r} has no split {split!r}; valid: {', '.join(src.splits)}")
    needs = [(n, s) for n, s in needs if not source(n).generated]
    if not needs:
        return
    if data_dir is None:
        if offline():
            raise FileNotFoundError(
                f"HF_HUB_OFFLINE is set and no data directory was given, but the run reads "
                f"{', '.join(f'{n}/{s}' for n, s in needs)}; pass --data-dir DIR or set HARNESS_DATA_DIR=DIR "
                "(laid out as <dataset>/<split>.jsonl, e.g. ../shared/data)")
        return
    if not Path(data_dir).is_dir():
        raise FileNotFoundError(f"data directory {data_dir} does not exist (--data-dir or HARNESS_DATA_DIR)")
    missing = [str(local_file(data_dir, n, s)) for n, s in needs if not local_file(data_dir, n, s).is_file()]
    if missing:
        raise FileNotFoundError(f"the data directory {data_dir} lacks {len(missing)} file(s) this run reads: "
                                f"{', '.join(missing)} (laid out as <dataset>/<split>.jsonl)")


def _hub_rows(src: Source, name: str, split: str) -> list[dict]:
    from harness.engines.models import offline
    if offline():
        raise FileNotFoundError(
            f"dataset {name} split {split}: HF_HUB_OFFLINE is set and no data directory was given; "
            f"pass --data-dir DIR or set HARNESS_DATA_DIR=DIR (laid out as <dataset>/<split>.jsonl).")
    import datasets
    name_, split_ = next(((n, s) for sp, n, s in src.hub_splits if sp == split), (src.hub_name, split))
    return [dict(r) for r in datasets.load_dataset(src.hub_path, name_, split=split_, **dict(src.hub_kwargs))]


def to_item(name: str, split: str, index: int, row: dict) -> dict:
    """One question in the pipeline's format (id, question, and either aliases or choices + gold),
    by the utils.py of the task that declares the dataset."""
    return module(source(name).task).to_item(split, index, row)


def load_items(name: str, split: str, data_dir: Path | None) -> list[dict]:
    return [to_item(name, split, i, r) for i, r in enumerate(load_rows(name, split, data_dir))]
