"""MMLU: prompt, letter scoring, pipeline item (lm-eval functions as in tasks/triviaqa/utils.py)."""
from harness.scoring.classify import classify_choice, lm_eval_result
from harness.data.prompts import LETTERS, question_text
from harness.tasks import DEFAULT, refusing


def doc_to_text(doc: dict, style: str = "basic", choice_prompt: str = DEFAULT.choice_prompt, **_) -> str:
    item = {"question": doc["question"], "choices": doc["choices"], "subject": doc["subject"]}
    return question_text(item, style, choice_prompt)


doc_to_text_refuse = refusing(doc_to_text)       # the <task>_refuse.yaml variant, for lm-eval alone


def gold(doc: dict) -> str:
    return LETTERS[doc["answer"]]


def process_results(doc: dict, results: list, refusal: str = DEFAULT.refusal, unparsed: str = DEFAULT.unparsed, **_) -> dict:
    return lm_eval_result(*classify_choice(results[0], gold(doc), LETTERS[:len(doc["choices"])], refusal, unparsed))


def to_item(split: str, index: int, row: dict) -> dict:
    return {"id": f"mmlu/{row['subject']}/{split}/{index}", "question": row["question"],
            "choices": list(row["choices"]), "gold": gold(row), "answer": gold(row), "subject": row["subject"]}
