import math
from dataclasses import replace

import numpy as np
import pytest

from harness.knowledge import query as k
from harness.run.config import Scoring
from harness.run.presets import PRESETS

STRICT = Scoring(correctness="strict", refusal="broad")
OPEN = replace(PRESETS["smoke"].open, n_samples=3, temperature=1.0, query_max_new_tokens=8,
               query_answer="first_line")
CHOICE = replace(PRESETS["smoke"].choice, n_shot=5, choice_entropy="renormalized")


def test_certainty_is_mean_offdiagonal_cosine():
    same = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    assert k.pairwise_certainty(same) == pytest.approx(1.0)
    ortho = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert k.pairwise_certainty(ortho) == pytest.approx(0.0)
    # pairs: (a,b)=1, (a,c)=0, (b,c)=0 -> mean 1/3
    mixed = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert k.pairwise_certainty(mixed) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="at least 2"):
        k.pairwise_certainty(np.array([[1.0, 0.0]]))


def test_option_probs_renormalise_over_letters():
    p = k.option_probs([math.log(0.1), math.log(0.1), math.log(0.2), math.log(0.1)])
    assert p == pytest.approx([0.2, 0.2, 0.4, 0.2])
    assert k.neg_entropy([0.25] * 4) == pytest.approx(-math.log(4))
    assert k.neg_entropy([1.0, 0.0, 0.0, 0.0]) == 0.0


def test_sample_correctness_and_first_line():
    assert k.sample_correctness(["Paris", "paris, France", "Lyon", "I don't know Paris"], ["Paris"]) == 0.5
    assert k.first_line("\n  York \nQuestion: next") == "York"


def test_code_correctness_is_a_raw_substring_and_whole_answers_are_cut_at_the_next_instruction():
    # The CRaFT code: "york" inside "Yorkshire" counts; only "i don't know" is a refusal.
    assert k.sample_correctness(["Yorkshire", "I'm not sure, York", "I don't know York"], ["York"],
                                "substring", "code") == pytest.approx(2 / 3)
    assert k.sample_correctness(["Yorkshire", "I'm not sure, York"], ["York"], "strict", "broad") == 0.0
    assert k.whole_answer("It is York.\nIt lies in England.\n\nAnswer the following question as simple "
                          "as possible.\nQuestion: x") == "It is York.\nIt lies in England."
    assert k.whole_answer(" Paris\nquestion: next one") == "Paris"


def test_flow_join_and_missing_rows():
    init = [{"id": "a", "correctness": 0.2, "certainty": 0.1}, {"id": "b", "correctness": 0.0, "certainty": 0.3}]
    after = [{"id": "a", "correctness": 0.6}, {"id": "b", "correctness": 0.0}]
    rows = k.with_flow(init, after)
    assert rows[0]["flow"] == pytest.approx(0.4) and rows[1]["flow"] == 0.0
    with pytest.raises(ValueError, match="lacks 1"):
        k.with_flow(init, after[:1])


def test_rehearsal_pick_thresholds_then_falls_back_to_top_k():
    table = [{"id": "a", "correctness": 1.0, "certainty": 0.999}, {"id": "b", "correctness": 1.0, "certainty": 0.5},
             {"id": "c", "correctness": 0.9, "certainty": 1.0}, {"id": "d", "correctness": 0.0, "certainty": 1.0}]
    assert k.rehearsal_pick(table, 1, 0.995, 0.995) == ["a"]
    assert k.rehearsal_pick(table, 3, 0.995, 0.995) == ["a", "b", "c"]      # only one passes: top-3
    assert k.rehearsal_pick(table, 2, 0.99, None) == ["a", "b"]


class FakeEngine:
    """Answers from a script: the n samples of question i are scripted[i]."""
    def __init__(self, scripted=None, logprobs=None):
        self.scripted, self.logprobs, self.calls = scripted, logprobs, []

    def apply_template(self, user):
        return f"<u>{user}</u>"

    def generate(self, prompts, n=1, temperature=0.0, max_new_tokens=32, seed=0, desc="", stop=()):
        self.calls.append((len(prompts), n, temperature, tuple(stop)))
        return [list(self.scripted[i][:n]) for i in range(len(prompts))]

    def option_logprobs(self, prompts, options):
        return [self.logprobs[i][:len(options)] for i in range(len(prompts))]


class FakeEncoder:
    def encode(self, texts, **_):
        return np.array([[1.0, 0.0] if "Paris" in t else [0.0, 1.0] for t in texts])


def test_query_open_with_a_fake_engine():
    items = [{"id": "q1", "question": "Capital of France?", "aliases": ["Paris"]},
             {"id": "q2", "question": "Capital of Mars?", "aliases": ["Olympus"]}]
    eng = FakeEngine(scripted=[["Paris\nQuestion: x", "Paris", "Lyon"], ["Paris", "Lyon", "Nice"]])
    rows = k.query_open(eng, items, OPEN, 0, STRICT, encoder=FakeEncoder())
    assert eng.calls == [(2, 3, 1.0, ())]
    assert rows[0]["samples"] == ["Paris", "Paris", "Lyon"]
    assert rows[0]["correctness"] == pytest.approx(2 / 3) and rows[1]["correctness"] == 0.0
    assert rows[0]["certainty"] == pytest.approx(1 / 3) and rows[1]["certainty"] == pytest.approx(1 / 3)


def test_query_choice_uses_same_subject_shots_and_gold_probability():
    items = [{"id": "t1", "question": "Q", "choices": list("wxyz"), "gold": "C", "subject": "law"}]
    shots = [{"id": f"d{i}", "question": f"S{i}", "choices": list("wxyz"), "gold": "A", "subject": s}
             for i, s in enumerate(["law", "art", "law"])]
    eng = FakeEngine(logprobs=[[math.log(0.1), math.log(0.1), math.log(0.6), math.log(0.2)]])
    seen = []
    eng.option_logprobs = lambda prompts, options: (seen.extend(prompts), [[math.log(0.1), math.log(0.1), math.log(0.6), math.log(0.2)]])[1]
    row = k.query_choice(eng, items, shots, CHOICE, STRICT)[0]
    assert row["correctness"] == pytest.approx(0.6)
    assert row["certainty"] == pytest.approx(sum(p * math.log(p) for p in (0.1, 0.1, 0.6, 0.2)))
    assert "S0" in seen[0] and "S2" in seen[0] and "S1" not in seen[0]
    assert seen[0].startswith("<u>")


def test_code_choice_query_raw_entropy_without_chat_template():
    """The code's MCQA query: its prompt, no chat template, mu renormalized over the letters, entropy
    over the raw letter probabilities (here 0.05 + 0.05 + 0.3 + 0.1 = half the mass on the letters)."""
    items = [{"id": "t1", "question": "Q", "choices": list("wxyz"), "gold": "C", "subject": "law"}]
    raw = (0.05, 0.05, 0.3, 0.1)
    seen = []
    eng = FakeEngine()
    eng.option_logprobs = lambda prompts, options: (seen.extend(prompts), [[math.log(x) for x in raw]])[1]
    code = Scoring()
    row = k.query_choice(eng, items, [], replace(CHOICE, n_shot=0, query_chat_template=False,
                                                 choice_entropy="raw"), code)[0]
    assert row["correctness"] == pytest.approx(0.6)
    assert row["certainty"] == pytest.approx(sum(p * math.log(p) for p in raw))
    assert seen[0] == ("There is a single choice question about law. Answer the question by replying A, B, C "
                       "or D.\nQuestion: Q\nA. w\nB. x\nC. y\nD. z\nAnswer: ")

