import math

import numpy as np
import pytest

from harness import knowledge as k


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

    def generate(self, prompts, n=1, temperature=0.0, max_new_tokens=32, seed=0, desc=""):
        self.calls.append((len(prompts), n, temperature))
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
    rows = k.query_open(eng, items, n_samples=3, temperature=1.0, max_new_tokens=8, seed=0, encoder=FakeEncoder())
    assert eng.calls == [(2, 3, 1.0)]
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
    row = k.query_choice(eng, items, shots, n_shot=5)[0]
    assert row["correctness"] == pytest.approx(0.6)
    assert row["certainty"] == pytest.approx(sum(p * math.log(p) for p in (0.1, 0.1, 0.6, 0.2)))
    assert "S0" in seen[0] and "S2" in seen[0] and "S1" not in seen[0]
