"""Test-set evaluation through the lm-eval task definitions in tasks/, with per-sample records."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.engines import Engine
from harness.prompts import styled

TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"


@dataclass(frozen=True)
class TaskInfo:
    dataset: str              # harness.data name
    split: str
    kind: str                 # "open" / "choice"
    description: str


TASKS = {
    "triviaqa": TaskInfo("triviaqa", "validation", "open", "TriviaQA validation (in-domain OEQA)"),
    "nq": TaskInfo("nq_open", "validation", "open", "NQ-open validation (out-of-domain OEQA)"),
    "mmlu": TaskInfo("mmlu", "validation", "choice", "MMLU validation (in-domain MCQA)"),
    "arc_c": TaskInfo("arc_challenge", "test", "choice", "ARC-Challenge test (out-of-domain MCQA)"),
}


def task_info(name: str) -> TaskInfo:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid: {', '.join(TASKS)}")
    return TASKS[name]


def task_config(name: str, rows_file: Path, style: str) -> dict:
    """The task's YAML, reading this run's questions from JSONL and prompting in the method's style."""
    from lm_eval.tasks._yaml_loader import load_yaml

    cfg = load_yaml(TASKS_DIR / name / f"{name}.yaml")
    cfg.pop("dataset_name", None)
    cfg.update(dataset_path="json", dataset_kwargs={"data_files": {"test": str(rows_file)}},
               test_split="test")
    base_text = cfg["doc_to_text"]
    cfg["doc_to_text"] = lambda doc: styled(base_text(doc), style)
    return cfg


def _truncate(text: str, until: list[str]) -> str:
    for stop in until:
        if stop and stop in text:
            text = text[:text.index(stop)]
    return text


def engine_lm(engine: Engine, max_new_tokens: int):
    """An lm-eval LM that generates with our engine and remembers the exact prompts it sent."""
    from lm_eval.api.model import LM

    class EngineLM(LM):
        def __init__(self):
            super().__init__()
            self.prompts: dict[str, str] = {}

        def generate_until(self, requests, disable_tqdm: bool = False):
            contexts = [r.args[0] for r in requests]
            kwargs = [r.args[1] for r in requests]
            prompts = [engine.apply_template(c) for c in contexts]
            self.prompts.update(zip(contexts, prompts))
            limit = max(int(k.get("max_gen_toks", max_new_tokens)) for k in kwargs)
            outs = engine.generate(prompts, n=1, temperature=0.0, max_new_tokens=min(limit, max_new_tokens),
                                   desc="evaluate")
            return [_truncate(o[0], k.get("until", [])).strip() for o, k in zip(outs, kwargs)]

        def loglikelihood(self, requests, disable_tqdm: bool = False):
            raise NotImplementedError("harness tasks are generate_until")

        def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
            raise NotImplementedError("harness tasks are generate_until")

    return EngineLM()


def evaluate(engine: Engine, task: str, items: list[dict], rows_file: Path,
             style: str, max_new_tokens: int) -> list[dict]:
    """Run one lm-eval task over the questions in rows_file (`items` in the same order) and return
    one record per question."""
    from lm_eval import simple_evaluate

    lm = engine_lm(engine, max_new_tokens)
    out = simple_evaluate(model=lm, tasks=[task_config(task, rows_file, style)], log_samples=True,
                          bootstrap_iters=0, verbosity="WARNING")
    samples = sorted(out["samples"][f"rait_{task}"], key=lambda s: s["doc_id"])
    if len(samples) != len(items):
        raise RuntimeError(f"lm-eval returned {len(samples)} samples for {len(items)} questions of {task}")
    return [_record(s, items[s["doc_id"]], lm.prompts) for s in samples]


def _record(sample: dict, item: dict, prompts: dict[str, str]) -> dict:
    cls = next(c for c in ("correct", "wrong", "refused") if sample[c] == 1.0)
    context = sample["arguments"][0][0] if isinstance(sample["arguments"][0], (list, tuple)) \
        else sample["arguments"]["gen_args_0"]["arg_0"]
    return {"id": item["id"], "question": item["question"], "prompt": prompts.get(context, context),
            "answer": sample["filtered_resps"][0] if isinstance(sample["filtered_resps"], list)
            else sample["filtered_resps"],
            "gold": item.get("aliases") or item["gold"], "class": cls,
            "unparsed": bool(sample.get("unparsed", 0.0))}
