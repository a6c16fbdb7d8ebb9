"""The scripted fake engine's world (harness.engines.fake): tiny TriviaQA and MMLU files and a script
that knows the answers about Paris and refuses when the prompt allows it."""
import json
import re
from dataclasses import replace

from harness.data.prompts import REFUSE_PREFIX
from harness.run.config import Scoring
from harness.run.io import write_jsonl
from harness.run.presets import PRESETS

# Knows the gold answer of every question containing 'Paris' or 'France'; refuses when allowed to.
SCRIPT = {"rules": [{"when": ["Paris|France", "Question:"], "answer": "B"},
                    {"when": ["Paris|France"], "answer": "Paris\n\nignored"},
                    {"when": [re.escape(REFUSE_PREFIX)], "answer": "I don’t know."},
                    {"when": ["Question:"], "answer": "nothing"}],
          "default": "Lyon"}


def write_script(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(SCRIPT))
    return str(path)


# The harness's own scorers (broad refusal list, strict word match, its MCQA prompt, pooled MMLU).
HARNESS_SCORING = Scoring(correctness="strict", refusal="broad", choice_prompt="harness", unparsed="wrong",
                          mmlu_average="micro", triviaqa_test="validation", nq_question_mark=False)
SMOKE_HARNESS = replace(PRESETS["smoke"], scoring=HARNESS_SCORING)


def write_data(root):
    tq = [{"question_id": f"t{i}", "question": q, "answer": {"value": "Paris", "aliases": ["Paris"]}}
          for i, q in enumerate(["Capital of France?", "Largest city on Mars?", "Smallest moon?", "Paris is in?"])]
    mm = [{"question": "Capital of France?", "subject": "geo", "choices": ["Rome", "Paris", "Oslo", "Bern"],
           "answer": 1},
          {"question": "Capital of Atlantis?", "subject": "geo", "choices": ["Rome", "Lima", "Oslo", "Bern"],
           "answer": 1}]
    write_jsonl(root / "triviaqa" / "validation.jsonl", tq)
    write_jsonl(root / "triviaqa" / "unfiltered_validation.jsonl", tq)
    write_jsonl(root / "mmlu" / "validation.jsonl", mm)
    return root
