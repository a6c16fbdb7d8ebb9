"""NQ-open: prompt, scoring, pipeline item (lm-eval functions as in tasks/triviaqa/utils.py)."""
from harness.scoring.classify import classify_open, lm_eval_result
from harness.data.prompts import question_text
from harness.tasks import DEFAULT, refusing


def doc_to_text(doc: dict, style: str = "basic", question_mark: bool = DEFAULT.nq_question_mark, **_) -> str:
    question = doc["question"].strip()
    if question_mark and not question.endswith("?"):
        question += "?"                      # the CRaFT code's NQ prompt
    return question_text({"question": question}, style)


doc_to_text_refuse = refusing(doc_to_text)       # the <task>_refuse.yaml variant, for lm-eval alone


def process_results(doc: dict, results: list, correctness: str = DEFAULT.correctness, refusal: str = DEFAULT.refusal, **_) -> dict:
    return lm_eval_result(classify_open(results[0], list(doc["answer"]), correctness, refusal))


def to_item(split: str, index: int, row: dict) -> dict:
    return {"id": f"nq_open/{split}/{index}", "question": row["question"],
            "aliases": list(row["answer"]), "answer": row["answer"][0]}
