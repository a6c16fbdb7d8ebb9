"""geo_city_mc: geo_city's cities with four countries to choose from (the gold and three of its
continent, harness/data/geo.py), scored as MMLU is."""
from harness.data import geo
from harness.scoring.classify import classify_choice, lm_eval_result
from harness.data.prompts import LETTERS, question_text
from harness.tasks import DEFAULT, refusing

SPLITS = ("train", "test")
SUBJECT = "geography"


def rows(split: str) -> list[dict]:
    return geo.city_rows(split, choice=True)


def dataset(**_):
    return geo.hf_dataset(rows, SPLITS)


def doc_to_text(doc: dict, style: str = "basic", choice_prompt: str = DEFAULT.choice_prompt, **_) -> str:
    return question_text({"question": doc["question"], "choices": doc["choices"], "subject": SUBJECT}, style,
                         choice_prompt)


doc_to_text_refuse = refusing(doc_to_text)


def process_results(doc: dict, results: list, refusal: str = DEFAULT.refusal, unparsed: str = DEFAULT.unparsed,
                    **_) -> dict:
    return lm_eval_result(*classify_choice(results[0], LETTERS[doc["answer"]], LETTERS[:len(doc["choices"])],
                                           refusal, unparsed))


def to_item(split: str, index: int, row: dict) -> dict:
    return {"id": row["id"], "question": row["question"], "choices": list(row["choices"]),
            "gold": LETTERS[row["answer"]], "answer": LETTERS[row["answer"]], "subject": SUBJECT,
            **geo.popularity(row)}
