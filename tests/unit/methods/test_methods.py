"""The constructions of the methods that write their own targets, pinned row by row on a hand-made
'answers' table (SPEC section 4), and the refusal detector covering every method's refusal target."""
import random

import pytest
from harness.methods import METHODS, method, unsupported

from harness.data.prompts import HONESTY_REFUSAL, IDK_SENTENCE, RTUNING_QUESTION, RTUNING_REFUSALS
from harness.knowledge import construct as c
from harness.scoring.classify import answer_body, classify_choice, classify_open, is_refusal
from harness.scoring.metrics import summarize

# q1: greedy right, 3/3 samples right; q2: greedy wrong, 1 of 3 right; q3: nothing right;
# q4: greedy right, no sample right.
TABLE = [
    {"id": "q1", "correctness": 1.0, "certainty": 0.9, "gold": "Paris", "greedy": "Paris", "greedy_correct": 1.0,
     "samples": ["Paris", "Paris, France", "paris"], "sample_correct": [True, True, True]},
    {"id": "q2", "correctness": 1 / 3, "certainty": 0.5, "gold": "Oslo", "greedy": "Bergen", "greedy_correct": 0.0,
     "samples": ["Bergen", "Oslo it is", "Trondheim"], "sample_correct": [False, True, False]},
    {"id": "q3", "correctness": 0.0, "certainty": 0.2, "gold": "Lima", "greedy": "Quito", "greedy_correct": 0.0,
     "samples": ["Quito", "Bogota", "Quito"], "sample_correct": [False, False, False]},
    {"id": "q4", "correctness": 0.0, "certainty": 0.1, "gold": "Rome", "greedy": "Rome", "greedy_correct": 1.0,
     "samples": ["Milan", "Turin", "Naples"], "sample_correct": [False, False, False]},
]


def build(name: str, n_van: int = 10, n_idk: int = 10, seed: int = 0) -> c.Selection:
    m = method(name)
    return c.apply(m.select, m.table, TABLE, c.Params(c.OEQA_THRESHOLDS, n_van, n_idk), seed=seed)


def rows(sel: c.Selection) -> list[tuple]:
    return [(r["id"], r["label"], r["target"]) for r in sel.rows]


def test_r_tuning_keeps_gold_where_the_greedy_answer_was_right_and_draws_an_r_tuning_refusal_elsewhere():
    sel = build("r-tuning")
    got = sorted(rows(sel))
    assert [(i, lab) for i, lab, _ in got] == [("q1", "vanilla"), ("q2", "idk"), ("q3", "idk"), ("q4", "vanilla")]
    assert dict((i, t) for i, _, t in got)["q1"] == "Paris" and dict((i, t) for i, _, t in got)["q4"] == "Rome"
    assert all(t in RTUNING_REFUSALS for i, lab, t in got if lab == "idk")
    assert sel.shortfall == {"vanilla": 8, "idk": 8} and (sel.n_van_candidates, sel.n_idk_candidates) == (2, 2)
    assert rows(build("r-tuning", seed=3)) == rows(build("r-tuning", seed=3))          # a pure function of the seed


def test_r_tuning_unsure_appends_the_question_and_sure_or_unsure_to_the_gold_answer():
    got = dict((i, (lab, t)) for i, lab, t in rows(build("r-tuning-unsure")))
    assert got["q1"] == ("vanilla", f"Paris. {RTUNING_QUESTION} I am sure.")
    assert got["q2"] == ("idk", f"Oslo. {RTUNING_QUESTION} I am unsure.")
    assert got["q4"] == ("vanilla", f"Rome. {RTUNING_QUESTION} I am sure.")


def test_idk_sft_keeps_a_correct_sample_only_when_every_sample_is_right():
    got = dict((i, (lab, t)) for i, lab, t in rows(build("idk-sft")))
    assert got["q1"][0] == "vanilla" and got["q1"][1] in ("Paris", "Paris, France", "paris")
    assert got["q2"] == got["q3"] == got["q4"] == ("idk", IDK_SENTENCE)               # 1/3 < Ik threshold 1.0


def test_honesty_absolute_uses_the_greedy_answer_then_the_first_right_sample_then_the_apology():
    got = dict((i, (lab, t)) for i, lab, t in rows(build("honesty-absolute")))
    assert got == {"q1": ("vanilla", "Paris"), "q2": ("vanilla", "Oslo it is"), "q3": ("idk", HONESTY_REFUSAL),
                   "q4": ("vanilla", "Rome")}


def test_honesty_conf_verb_prefixes_by_k_and_refuses_at_k_0_even_when_the_greedy_answer_was_right():
    got = dict((i, (lab, t)) for i, lab, t in rows(build("honesty-conf-verb")))
    # k scaled to 10: 3/3 -> 10 "absolutely certain"; 1/3 -> 3.3 "not completely sure"
    assert got == {"q1": ("vanilla", "I'm absolutely certain that paris"),
                   "q2": ("vanilla", "I'm not completely sure about this, but oslo it is"),
                   "q3": ("idk", HONESTY_REFUSAL), "q4": ("idk", HONESTY_REFUSAL)}


def test_honesty_multisample_has_one_row_per_sample_and_counts_its_shortfall_in_questions():
    sel = build("honesty-multisample", n_van=1, n_idk=5)
    by_id = {}
    for i, lab, t in rows(sel):
        by_id.setdefault(i, []).append((lab, t))
    assert len(sel.rows) == 3 * len(by_id)
    for i, got in by_id.items():
        row = next(r for r in TABLE if r["id"] == i)
        assert got == [("vanilla", s) if ok else ("idk", HONESTY_REFUSAL)
                       for s, ok in zip(row["samples"], row["sample_correct"])]
    assert sel.shortfall == {"vanilla": 0, "idk": 3}        # 1 of 2 known questions, 2 of 5 unknown ones
    assert sel.to_manifest()["questions_picked"] == [1, 2]


def test_a_method_on_a_domain_its_paper_does_not_define_is_refused_with_the_reason():
    from harness.schedule import checked
    assert unsupported("idk-sft", "choice") and unsupported("r-tuning", "choice") is None
    with pytest.raises(ValueError, match=r"idk-sft on mmlu \(Cheng et al\. build the Idk dataset from TriviaQA"):
        checked(["idk-sft"], ["triviaqa", "mmlu"])
    everything = checked(["all"], ["triviaqa", "mmlu"])        # all: each method where it is defined
    assert set(everything) == set(METHODS) and everything[0] == "init-basic"


def test_every_methods_refusal_target_is_a_refusal_under_every_detector():
    for name, m in METHODS.items():
        for target in m.refusals:
            for detector in ("code", "broad"):
                assert is_refusal(target, detector), (name, target, detector)
                assert classify_open(target, ["Paris"], "substring", detector) == "refused"
                assert classify_choice(target, "A", refusal=detector)[0] == "refused"


def test_confidence_prefixed_and_sure_answers_are_scored_on_the_answer():
    assert classify_open("I'm fairly confident that paris", ["Paris"], "strict", "broad") == "correct"
    assert classify_open("I’m really not sure about this, but lyon", ["Paris"], "strict", "broad") == "wrong"
    sure = f"Paris. {RTUNING_QUESTION} I am sure."
    assert answer_body(sure) == "Paris" and classify_open(sure, ["Paris"], "substring", "code") == "correct"
    unsure = f"Paris. {RTUNING_QUESTION} I am unsure."
    assert classify_open(unsure, ["Paris"], "substring", "code") == "refused"
    assert classify_choice(f"B. {RTUNING_QUESTION} I am sure.", "B", refusal="code") == ("correct", False)
    # an answer that merely contains the words is left as it is
    assert answer_body("Paris, I'm fairly confident that") == "Paris, I'm fairly confident that"


def test_honesty_and_abstainqa_metrics_from_the_class_table():
    # reference: c c w w w r ; method: r c r w c r
    base = ["correct", "correct", "wrong", "wrong", "wrong", "refused"]
    new = ["refused", "correct", "refused", "wrong", "correct", "refused"]
    s = summarize(new, base)
    assert s["over_refusal"] == pytest.approx(1 / 2)               # over-conservativeness: 1 of 2 known refused
    # prudence: reference not right and method not right: w->r, w->w, r->r (w->c is right): 2 of 3 refused
    assert s["prudence"] == pytest.approx(2 / 3)
    assert s["honesty"] == pytest.approx((1 - 1 / 2 + 2 / 3) / 2)
    assert s["reliable_accuracy"] == pytest.approx(2 / 3)          # 2 right of 3 answered
    assert s["effective_reliability"] == pytest.approx((2 - 1) / 6)
    all_refused = summarize(["refused"] * 2, ["wrong", "correct"])
    assert all_refused["reliable_accuracy"] is None


def test_draws_share_one_rng_so_a_selection_is_reproducible():
    a = method("honesty-absolute").select(TABLE, c.Params(c.OEQA_THRESHOLDS, 1, 1), random.Random(5))
    b = method("honesty-absolute").select(TABLE, c.Params(c.OEQA_THRESHOLDS, 1, 1), random.Random(5))
    assert a == b


def test_idk_dpo_prefers_a_right_sample_to_the_idk_sentence_and_the_idk_sentence_to_a_wrong_sample():
    table = [dict(r, samples=list(r["samples"]), sample_correct=list(r["sample_correct"])) for r in TABLE]
    table[1]["sample_correct"] = [True, True, True]            # q2 known too (accuracy 1.0)
    m = method("idk-dpo")
    sel = c.apply(m.select, m.table, table, c.Params(c.OEQA_THRESHOLDS, 10, 10), seed=0)
    got = {r["id"]: (r["label"], r["target"], r["rejected"]) for r in sel.rows}
    assert got["q1"][0] == "vanilla" and got["q1"][1] in TABLE[0]["samples"] and got["q1"][2] == IDK_SENTENCE
    assert got["q3"][:2] == ("idk", IDK_SENTENCE) and got["q3"][2] in ("Quito", "Bogota")
    assert got["q4"][:2] == ("idk", IDK_SENTENCE) and got["q4"][2] in ("Milan", "Turin", "Naples")
    # the chosen answers are idk-sft's rows, drawn the same way: its model trains once for both
    sft = c.apply(method("idk-sft").select, "answers", table, c.Params(c.OEQA_THRESHOLDS, 10, 10), seed=0)
    assert [(r["id"], r["label"], r["target"]) for r in sft.rows] == \
        [(r["id"], r["label"], r["target"]) for r in sel.rows]
    assert [s.name for s in m.stages("open")][-3:] == ["open/idk-dpo/crss", "open/idk-dpo/sft", "open/idk-dpo/train"]


def grait_table():
    """Three vanilla and three idk candidates with hand-made unit gradients: i1's refusal gradient agrees
    with the answers' gold gradients, i2's opposes them, i3's is orthogonal; v3 is a vanilla candidate
    outside D_van (N_van 2); the vanilla questions' refusal gradients are orthogonal to every other."""
    import numpy as np
    e = np.eye(3, dtype=np.float32)
    gold = {"v1": e[0], "v2": e[0]}
    refusal = {"v1": e[2], "v2": e[2], "v3": e[2], "i1": e[0], "i2": -e[0], "i3": e[1]}
    rows = [("v1", 1.0), ("v2", 0.9), ("v3", 0.6), ("i1", 0.0), ("i2", 0.2), ("i3", 0.1)]
    return [{"id": i, "correctness": mu, "certainty": 0.0, "gold": f"gold {i}", "gradient": gold.get(i),
             "refusal_gradient": refusal.get(i)} for i, mu in rows]


def test_grait_picks_refusals_greedily_by_gradient_agreement_and_weighs_them():
    import numpy as np
    from harness.methods import grait
    sel = c.apply(grait.select, "gradients", grait_table(), c.Params(c.OEQA_THRESHOLDS, 2, 2), seed=0)
    got = [(r["id"], r["label"], r["target"], round(r["weight"], 6)) for r in sel.rows]
    # S = G_idk @ (g_v1 + g_v2) = (2, -2, 0): i1 first; then S += <., i1> = (-, -3, 0): i3
    assert [g[:3] for g in got] == [("v1", "vanilla", "gold v1"), ("v2", "vanilla", "gold v2"),
                                    ("i1", "idk", "I don't know"), ("i3", "idk", "I don't know")]
    assert got[0][3] == got[1][3] == 1.0
    # delta = <g, mean refusal gradient of the vanilla candidates> - mean <g, idk candidates>:
    # i1 0 - (1 - 1 + 0) / 3 = 0; i3 0 - 1/3
    w = grait.weights(np.array([0.0, -1 / 3]))
    assert (got[2][3], got[3][3]) == (round(float(w[0]), 6), round(float(w[1]), 6))
    assert w.mean() == pytest.approx(grait.WEIGHT_MEAN) and w[0] > w[1]
    assert sel.shortfall == {"vanilla": 0, "idk": 0} and (sel.n_van_candidates, sel.n_idk_candidates) == (3, 3)


def test_grait_greedy_is_the_codes_loop():
    import numpy as np
    from harness.methods import grait
    inner = np.array([[1.0, 0.9, -0.5], [0.9, 1.0, 0.0], [-0.5, 0.0, 1.0]])
    assert grait.greedy(np.array([0.1, 0.0, 0.05]), inner, 3) == [0, 1, 2]     # 0; then 0.9 + 0 > -0.45
    assert grait.greedy(np.array([0.1, 0.0, 0.05]), inner, 5) == [0, 1, 2]     # at most the candidates


def test_the_weighted_loss_is_each_rows_mean_token_loss_times_its_weight():
    import torch

    from harness.training.sft import weighted_loss

    class Args:
        per_device_train_batch_size, gradient_accumulation_steps = 2, 1
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 7)
    labels = torch.tensor([[-100, 1, 2, -100], [-100, -100, 3, -100]])
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != -100
    target = labels[:, 1:][keep[:, :-1]]
    w = torch.tensor([2.0, 0.5])
    ce = torch.nn.functional.cross_entropy
    row0 = ce(logits[0, [0, 1]], torch.tensor([1, 2]))
    row1 = ce(logits[1, [1]], torch.tensor([3]))
    expected = (2.0 * row0 + 0.5 * row1) / 2
    assert float(weighted_loss(logits[keep], target, keep, w, False, Args)) == pytest.approx(float(expected), rel=1e-6)
    assert float(weighted_loss(logits[keep], target, keep, w, True, Args)) == pytest.approx(float(expected), rel=1e-6)


def test_grait_without_answers_draws_its_refusals_at_random_unweighted():
    from harness.methods import grait
    table = [r for r in grait_table() if r["id"].startswith("i")]
    sel = c.apply(grait.select, "gradients", table, c.Params(c.OEQA_THRESHOLDS, 2, 2), seed=1)
    assert [r["label"] for r in sel.rows] == ["idk", "idk"] and all(r["weight"] == 1.0 for r in sel.rows)
    assert sel.shortfall == {"vanilla": 2, "idk": 0}


def test_average_precision_is_sklearns_and_r_tuning_answers_are_cut_before_the_question():
    # sklearn's documented example: y [0, 0, 1, 1], scores [0.1, 0.4, 0.35, 0.8] -> 0.8333
    from harness.scoring.classify import rtuning_answer
    from harness.scoring.metrics import average_precision
    assert average_precision([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == pytest.approx(0.8333, abs=1e-4)
    # ties share a threshold: both at 0.5, one right -> precision 1/2 at recall 1
    assert average_precision([0.5, 0.5], [True, False]) == pytest.approx(0.5)
    assert average_precision([0.3, 0.2], [False, False]) is None
    assert rtuning_answer(f"Paris. {RTUNING_QUESTION} I am sure.") == "Paris"
    assert rtuning_answer("Paris") == "Paris"


def test_r_tuning_unsure_asks_for_its_confidence_stage_on_answerable_questions():
    """AP ranks answers against their correctness: on a side-effect task (SelfAware's unanswerable
    questions have no gold answer) there is none, and the stage crashed there before."""
    from harness.schedule import schedule
    names = [s.name for s in schedule(["r-tuning-unsure", "rait"], ["triviaqa", "selfaware", "gsm8k"])]
    assert "confidence/r-tuning-unsure/triviaqa" in names and "confidence/rait/triviaqa" not in names
    assert names.index("confidence/r-tuning-unsure/triviaqa") > names.index("eval/r-tuning-unsure/triviaqa")
    assert "eval/r-tuning-unsure/selfaware" in names
    assert not any(n.startswith("confidence/") and not n.endswith("/triviaqa") for n in names)
