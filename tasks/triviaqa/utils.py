"""TriviaQA (rc.nocontext; the CRaFT code tests on the unfiltered dev): prompt, scoring, pipeline item.

The lm-eval functions take the run's options as keyword arguments with the harness's defaults, so
the YAML also runs with lm-eval alone; `harness.scoring.evaluate` binds a run's prompt style and scoring."""
from harness.scoring.classify import classify_open, lm_eval_result
from harness.data.prompts import question_text
from harness.tasks import DEFAULT, refusing


def answers(answer: dict) -> list[str]:
    """The answers the CRaFT code scores against (proc_triviaqa.py): value, normalized value,
    aliases and normalized aliases, without empties and repeats."""
    values = [answer.get("value"), answer.get("normalized_value"), *answer.get("aliases", []),
              *answer.get("normalized_aliases", [])]
    return list(dict.fromkeys(v for v in values if v))


def doc_to_text(doc: dict, style: str = "basic", **_) -> str:
    return question_text({"question": doc["question"].strip()}, style)


doc_to_text_refuse = refusing(doc_to_text)       # the <task>_refuse.yaml variant, for lm-eval alone


def process_results(doc: dict, results: list, correctness: str = DEFAULT.correctness, refusal: str = DEFAULT.refusal, **_) -> dict:
    return lm_eval_result(classify_open(results[0], answers(doc["answer"]), correctness, refusal))


def to_item(split: str, index: int, row: dict) -> dict:
    ans = row["answer"]
    return {"id": row["question_id"] or f"triviaqa/{split}/{index}", "question": row["question"],
            "aliases": answers(ans), "answer": ans["value"] or ans["aliases"][0]}
