"""geo_city: "In which country is the city of X?" (harness/data/geo.py), scored as TriviaQA is; each row
carries the city's population rank and stratum."""
from harness.data import geo
from harness.scoring.classify import classify_open, lm_eval_result
from harness.data.prompts import question_text
from harness.tasks import DEFAULT, refusing

SPLITS = ("train", "test")


def rows(split: str) -> list[dict]:
    return geo.city_rows(split)


def dataset(**_):
    return geo.hf_dataset(rows, SPLITS)


def answers(doc: dict) -> list[str]:
    return list(dict.fromkeys([doc["answer"]["value"], *doc["answer"]["aliases"]]))


def doc_to_text(doc: dict, style: str = "basic", **_) -> str:
    return question_text({"question": doc["question"]}, style)


doc_to_text_refuse = refusing(doc_to_text)


def process_results(doc: dict, results: list, correctness: str = DEFAULT.correctness, refusal: str = DEFAULT.refusal,
                    **_) -> dict:
    return lm_eval_result(classify_open(results[0], answers(doc), correctness, refusal))


def to_item(split: str, index: int, row: dict) -> dict:
    return {"id": row["id"], "question": row["question"], "aliases": answers(row), "answer": row["answer"]["value"],
            **geo.popularity(row)}
