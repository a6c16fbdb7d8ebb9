"""lm-eval functions of the harness tasks: prompts and refusal-aware per-sample scoring."""
from harness.metrics import classify_choice, classify_open
from harness.prompts import LETTERS, choice_body, open_body


def _result(cls: str, unparsed: bool = False) -> dict:
    return {"correct": float(cls == "correct"), "wrong": float(cls == "wrong"),
            "refused": float(cls == "refused"), "unparsed": float(unparsed)}


def open_text(doc: dict) -> str:
    return open_body(doc["question"])


def triviaqa_aliases(doc: dict) -> list:
    return list(doc["answer"]["aliases"])


def process_triviaqa(doc: dict, results: list) -> dict:
    return _result(classify_open(results[0], triviaqa_aliases(doc)))


def process_nq(doc: dict, results: list) -> dict:
    return _result(classify_open(results[0], list(doc["answer"])))


def mmlu_text(doc: dict) -> str:
    return choice_body(doc["question"], doc["choices"], doc["subject"])


def mmlu_gold(doc: dict) -> str:
    return LETTERS[doc["answer"]]


def process_mmlu(doc: dict, results: list) -> dict:
    return _result(*classify_choice(results[0], mmlu_gold(doc), LETTERS[:len(doc["choices"])]))


def arc_text(doc: dict) -> str:
    return choice_body(doc["question"], doc["choices"]["text"])


def arc_gold(doc: dict) -> str:
    return LETTERS[list(doc["choices"]["label"]).index(doc["answerKey"])]


def process_arc(doc: dict, results: list) -> dict:
    return _result(*classify_choice(results[0], arc_gold(doc), LETTERS[:len(doc["choices"]["text"])]))
