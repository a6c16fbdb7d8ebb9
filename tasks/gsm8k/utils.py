"""GSM8K: prompt, final-number scoring, pipeline item.

The gold is the number after "####" in the worked solution; the model's answer is the last number in
its reply, read with thousands commas ("1,200"), a currency sign ("$1,200.50"), a sign ("-3"), decimals
("0.5") and units or words after it ("18 eggs", "5%"); the two are equal as numbers ("18.00" is 18).
A reply with no number is wrong and marked unparsed; a refusal (the run's detector) is checked first,
as on every task, and is not correct."""
import re

from harness.scoring import metrics
from harness.scoring.metrics import Side
from harness.scoring.classify import answer_body, is_refusal, lm_eval_result
from harness.data.prompts import question_text
from harness.tasks import DEFAULT, refusing

ratio = metrics.ratio      # the YAML's aggregation of SIDE_METRICS: sum of numerators / sum of denominators

SIDE_METRICS = {
    "accuracy": Side("accuracy of the final number", "higher", headline=True),
    "refusal": Side("share of problems refused", "lower", headline=True),
}

# A number not glued to a word or another number on its left ("x2" and "3-4" give 2 and 4): an
# optional sign, an optional currency sign, digits in groups of three with commas or plain digits,
# then decimals.
_NUMBER = re.compile(r"(?<!\w)(-)?[$€£]?(?:(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?|(\.\d+))")


def numbers(text: str) -> list[float]:
    return [float(f"{sign}{whole.replace(',', '') or '0'}{frac or bare}")
            for sign, whole, frac, bare in _NUMBER.findall(text.replace("\u2212", "-"))]


def last_number(text: str) -> float | None:
    found = numbers(text)
    return found[-1] if found else None


def gold_number(solution: str) -> float:
    """The number after "####" in a GSM8K solution."""
    if "####" not in solution:
        raise ValueError(f"a GSM8K answer ends with '#### <number>'; got {solution[-80:]!r}")
    value = last_number(solution.split("####")[-1])
    if value is None:
        raise ValueError(f"no number after '####' in {solution[-80:]!r}")
    return value


def same_number(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def classify(reply: str, gold: float, refusal: str = DEFAULT.refusal) -> tuple[str, bool]:
    """(class, unparsed) of one reply."""
    body = answer_body(reply)
    if is_refusal(body, refusal):
        return "refused", False
    value = last_number(body)
    if value is None:
        return "wrong", True
    return ("correct" if same_number(value, gold) else "wrong"), False


def doc_to_text(doc: dict, style: str = "basic", **_) -> str:
    return question_text({"question": doc["question"].strip()}, style)


doc_to_text_refuse = refusing(doc_to_text)       # the <task>_refuse.yaml variant, for lm-eval alone


def process_results(doc: dict, results: list, refusal: str = DEFAULT.refusal, **_) -> dict:
    cls, unparsed = classify(results[0], gold_number(doc["answer"]), refusal)
    return {**lm_eval_result(cls, unparsed), "accuracy": (float(cls == "correct"), 1.0),
            "refusal": (float(cls == "refused"), 1.0)}


def to_item(split: str, index: int, row: dict) -> dict:
    gold = gold_number(row["answer"])
    return {"id": f"gsm8k/{split}/{index}", "question": row["question"], "gold": f"{gold:g}",
            "answer": row["answer"].split("####")[-1].strip()}
