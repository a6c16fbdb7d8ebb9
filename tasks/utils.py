"""lm-eval functions of the harness tasks: prompts and refusal-aware per-sample scoring.

Every function takes the run's options as keyword arguments with the harness's defaults, so the
YAML works with lm-eval alone; `harness.evaluate.task_config` binds a run's prompt style and scoring.
"""
from harness.data import triviaqa_answers
from harness.metrics import classify_choice, classify_open
from harness.prompts import LETTERS, question_text


def _result(cls: str, unparsed: bool = False) -> dict:
    return {"correct": float(cls == "correct"), "wrong": float(cls == "wrong"),
            "refused": float(cls == "refused"), "unparsed": float(unparsed)}


def open_text(doc: dict, style: str = "basic", question_mark: bool = False, **_) -> str:
    question = doc["question"].strip()
    if question_mark and not question.endswith("?"):
        question += "?"                      # the CRaFT code's NQ prompt
    return question_text({"question": question}, style)


def triviaqa_aliases(doc: dict) -> list:
    return triviaqa_answers(doc["answer"])


def process_triviaqa(doc: dict, results: list, correctness: str = "strict", refusal: str = "broad",
                     **_) -> dict:
    return _result(classify_open(results[0], triviaqa_aliases(doc), correctness, refusal))


def process_nq(doc: dict, results: list, correctness: str = "strict", refusal: str = "broad",
               **_) -> dict:
    return _result(classify_open(results[0], list(doc["answer"]), correctness, refusal))


def mmlu_text(doc: dict, style: str = "basic", choice_prompt: str = "harness", **_) -> str:
    item = {"question": doc["question"], "choices": doc["choices"], "subject": doc["subject"]}
    return question_text(item, style, choice_prompt)


def mmlu_gold(doc: dict) -> str:
    return LETTERS[doc["answer"]]


def process_mmlu(doc: dict, results: list, refusal: str = "broad", unparsed: str = "wrong", **_) -> dict:
    return _result(*classify_choice(results[0], mmlu_gold(doc), LETTERS[:len(doc["choices"])],
                                    refusal, unparsed))


def arc_text(doc: dict, style: str = "basic", choice_prompt: str = "harness", **_) -> str:
    return question_text({"question": doc["question"], "choices": doc["choices"]["text"]}, style, choice_prompt)


def arc_gold(doc: dict) -> str:
    return LETTERS[list(doc["choices"]["label"]).index(doc["answerKey"])]


def process_arc(doc: dict, results: list, refusal: str = "broad", unparsed: str = "wrong", **_) -> dict:
    return _result(*classify_choice(results[0], arc_gold(doc), LETTERS[:len(doc["choices"]["text"])],
                                    refusal, unparsed))
