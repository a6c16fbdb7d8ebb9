"""Test-set evaluation through the lm-eval task definitions in tasks/, with per-sample records."""
from __future__ import annotations

from pathlib import Path

from harness.engines.protocol import Engine
from harness.run.io import write_json
from harness.tasks import TaskInfo, registry, task_manager


def tasks() -> dict[str, TaskInfo]:
    """The tasks of tasks/, by harness name, in their YAMLs' order."""
    return registry()[0]


def task_info(name: str) -> TaskInfo:
    known = tasks()
    if name not in known:
        raise ValueError(f"unknown task {name!r}; valid: {', '.join(known)}")
    return known[name]


def is_side(name: str) -> bool:
    """A side-effect task (metadata.group: side-effects), scored by harness.scoring.side_effects."""
    return task_info(name).group == "side-effects"


def answer_limit(name: str, preset) -> int:
    """New tokens a test answer may have: the preset's short-answer limits for the CRaFT tasks; a
    side-effect task's own YAML (max_gen_toks: a worked GSM8K answer needs 256)."""
    info = task_info(name)
    if is_side(name):
        return info.max_gen_toks or preset.eval_max_new_tokens_open
    return preset.eval_max_new_tokens_open if info.kind == "open" else preset.eval_max_new_tokens_choice


def test_split(name: str, scoring) -> str:
    """The split a run tests on: TriviaQA's unfiltered dev under the code's protocol."""
    return scoring.triviaqa_test if name == "triviaqa" else task_info(name).split


def task_options(style: str, scoring) -> dict:
    """The keyword arguments a run binds to a task's functions (tasks/<task>/utils.py); a task's
    function takes those it uses."""
    return {"style": style, "choice_prompt": scoring.choice_prompt, "correctness": scoring.correctness,
            "refusal": scoring.refusal, "unparsed": scoring.unparsed, "question_mark": scoring.nq_question_mark}


def task_config(name: str, rows_file: Path, style: str, scoring) -> dict:
    """The task's YAML as lm-eval's TaskManager indexed it, reading this run's questions from JSONL,
    prompting in the method's style and scoring with the run's options."""
    from lm_eval.tasks._yaml_loader import load_yaml

    cfg = load_yaml(task_info(name).yaml_path, resolve_func=True)
    cfg.pop("dataset_name", None)
    cfg.pop("custom_dataset", None)          # a generated task's rows come from the run's file too
    cfg.update(dataset_path="json", dataset_kwargs={"data_files": {"test": str(rows_file)}},
               test_split="test")
    opts = task_options(style, scoring)
    text, score = cfg["doc_to_text"], cfg["process_results"]
    cfg["doc_to_text"] = lambda doc: text(doc, **opts)
    cfg["process_results"] = lambda doc, results: score(doc, results, **opts)
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
            # The answers are cut at the task's `until`; generation may stop there, where every request
            # shares the same stops (a stop one request lacks would cut its answer short).
            stops = {tuple(k.get("until", [])) for k in kwargs}
            stop = list(next(iter(stops))) if len(stops) == 1 else []
            outs = engine.generate(prompts, n=1, temperature=0.0, max_new_tokens=min(limit, max_new_tokens),
                                   desc="evaluate", stop=stop)
            return [_truncate(o[0], k.get("until", [])).strip() for o, k in zip(outs, kwargs)]

        def loglikelihood(self, requests, disable_tqdm: bool = False):
            raise NotImplementedError("harness tasks are generate_until")

        def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
            raise NotImplementedError("harness tasks are generate_until")

    return EngineLM()


def evaluate(engine: Engine, task: str, items: list[dict], rows_file: Path,
             style: str, max_new_tokens: int, scoring, results_file: Path | None = None) -> list[dict]:
    """Run one lm-eval task over the questions in rows_file (`items` in the same order) and return
    one record per question. MMLU records carry their subject as `group` when the run averages
    MMLU over subjects (the code's macro average). With `results_file`, lm-eval's own results
    (its per-task metrics, versions and sample counts) are saved there too."""
    from lm_eval import simple_evaluate

    lm = engine_lm(engine, max_new_tokens)
    out = simple_evaluate(model=lm, tasks=[task_config(task, rows_file, style, scoring)], log_samples=True,
                          bootstrap_iters=0, verbosity="WARNING", task_manager=task_manager())
    if results_file is not None:
        import lm_eval
        write_json(results_file, {"lm_eval": getattr(lm_eval, "__version__", None),
                                  **{k: out[k] for k in ("results", "versions", "n-samples", "higher_is_better")
                                     if k in out}})
    samples = sorted(out["samples"][task_info(task).lm_eval_name], key=lambda s: s["doc_id"])
    if len(samples) != len(items):
        raise RuntimeError(f"lm-eval returned {len(samples)} samples for {len(items)} questions of {task}")
    macro = task == "mmlu" and scoring.mmlu_average == "macro"
    return [_record(s, items[s["doc_id"]], lm.prompts, macro) for s in samples]


RECORD_CLASSES = ("correct", "wrong", "refused", "complied")     # complied: a task without gold (XSTest)


def _record(sample: dict, item: dict, prompts: dict[str, str], macro: bool = False) -> dict:
    unparsed = bool(sample.get("unparsed", 0.0))
    found = [c for c in RECORD_CLASSES if sample.get(c) == 1.0]
    cls = found[0] if found else "unparsed"     # the code's fail_parse: neither correct nor wrong
    # A side-effect task's metrics: one (numerator, denominator) pair each (harness.scoring.metrics.Side).
    scores = {k: list(sample[k]) for k in sample.get("metrics", []) if isinstance(sample.get(k), (list, tuple))}
    context = sample["arguments"][0][0] if isinstance(sample["arguments"][0], (list, tuple)) \
        else sample["arguments"]["gen_args_0"]["arg_0"]
    return {"id": item["id"], "question": item["question"], "prompt": prompts.get(context, context),
            "answer": sample["filtered_resps"][0] if isinstance(sample["filtered_resps"], list)
            else sample["filtered_resps"],
            "gold": item.get("aliases") or item.get("gold"), "class": cls, "unparsed": unparsed,
            **({"group": item["subject"]} if macro else {}),
            **({"subset": item["subset"]} if "subset" in item else {}), **({"scores": scores} if scores else {}),
            **{k: item[k] for k in POPULARITY if k in item}}


POPULARITY = ("rank", "stratum", "population")      # a popularity-graded task's rows (harness.data.geo)
