"""Unit tests for harness.scoring.metrics; expected values are worked out by hand."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.scoring.classify import (CLASSES, REFUSAL_PATTERNS, classify_choice, classify_open, first_letter, is_refusal,
                                      normalize_answer)
from harness.scoring.metrics import bootstrap_ci, over_refusal, rates, refusal_precision, summarize, ths, truthfulness

# ---------------------------------------------------------------- refusal


@pytest.mark.parametrize(
    "text",
    [
        "I don't know.",
        "I don\u2019t know",
        "i DONT know",
        "I do not know the answer.",
        "Honestly, I'm not sure.",
        "I am not sure about that",
        "I cannot answer this question.",
        "I can\u2019t answer that.",
        "I'm unable to answer.",
        "No idea.",
        "I don't have enough information to answer.",
        "Unknown.",
        "  unknown ",
    ],
)
def test_refusal_variants(text):
    assert is_refusal(text)


@pytest.mark.parametrize(
    "text",
    ["Paris", "The Unknown Soldier", "I know: it is Paris", "Knowledge is power", ""],
)
def test_non_refusals(text):
    assert not is_refusal(text)


def test_refusal_patterns_are_compiled_regexes():
    assert REFUSAL_PATTERNS and all(hasattr(p, "search") for p in REFUSAL_PATTERNS)


# ---------------------------------------------------------------- normalization / OEQA


def test_normalize_answer_triviaqa_rules():
    # "_" -> " ", lower, punctuation (incl. curly quote) -> " ", drop article, collapse.
    assert normalize_answer("The  Quick_Brown, Fox\u2019s!") == "quick brown fox s"
    assert normalize_answer("an apple a day") == "apple day"
    # Articles go only as whole words.
    assert normalize_answer("Theatre Anatomy") == "theatre anatomy"
    assert normalize_answer("`Hello\u00b4") == "hello"


def test_open_correct_with_punctuation_articles_case():
    assert classify_open("The Beatles!", ["beatles"]) == "correct"
    assert classify_open("It was THE BEATLES, of course.", ["The Beatles"]) == "correct"


def test_open_multiple_aliases():
    aliases = ["JFK", "John F. Kennedy"]
    assert classify_open("It was John F Kennedy.", aliases) == "correct"
    assert classify_open("jfk", aliases) == "correct"
    assert classify_open("Lyndon Johnson", aliases) == "wrong"


def test_open_underscore_alias():
    assert classify_open("new york", ["New_York"]) == "correct"


def test_open_word_boundary():
    assert classify_open("Yorkshire", ["York"]) == "wrong"
    assert classify_open("It is in York, England", ["York"]) == "correct"


def test_open_empty_normalizing_alias_ignored():
    # Without ignoring them, "The" and "" would match any answer.
    assert classify_open("Lyon", ["The", "", "?!"]) == "wrong"
    assert classify_open("Paris", ["the", "Paris"]) == "correct"


def test_open_refusal_checked_first():
    assert classify_open("I don't know, maybe Paris?", ["Paris"]) == "refused"
    assert classify_open("The Unknown Soldier", ["Unknown Soldier"]) == "correct"


# ---------------------------------------------------------------- MCQA


@pytest.mark.parametrize(
    "answer,letter",
    [
        ("B", "B"),
        ("B.", "B"),
        ("(C)", "C"),
        ("The answer is D.", "D"),
        ("Answer: A", "A"),
        ("A. Paris", "A"),
        ("B or C", "B"),
        ("Answer", None),
        ("TBD", None),
        ("b)", None),
        ("", None),
        ("E", None),
    ],
)
def test_first_letter(answer, letter):
    assert first_letter(answer) == letter


def test_first_letter_custom_letters():
    assert first_letter("E", letters="ABCDE") == "E"


def test_classify_choice():
    assert classify_choice("The answer is B", "B") == ("correct", False)
    assert classify_choice("B or C", "C") == ("wrong", False)
    assert classify_choice("b)", "B") == ("wrong", True)
    assert classify_choice("Answer", "A") == ("wrong", True)
    assert classify_choice("I'm not sure, maybe B", "B") == ("refused", False)


def test_classify_choice_rejects_bad_gold():
    with pytest.raises(ValueError, match="Z"):
        classify_choice("A", "Z")


# ---------------------------------------------------------------- rates


def test_rates_values():
    r = rates(["correct", "wrong", "refused", "correct"])
    assert r == {"n": 4, "pc": 0.5, "pw": 0.25, "pr": 0.25, "pu": 0.0}


def test_rates_errors():
    with pytest.raises(ValueError):
        rates([])
    with pytest.raises(ValueError, match="maybe"):
        rates(["correct", "maybe"])


@given(st.lists(st.sampled_from(CLASSES), min_size=1))
def test_rates_sum_to_one(classes):
    r = rates(classes)
    assert r["pc"] + r["pw"] + r["pr"] + r["pu"] == pytest.approx(1.0)
    assert r["n"] == len(classes)


# ---------------------------------------------------------------- THS


@pytest.mark.parametrize(
    "pc,pw,expected",
    [(0.55, 0.45, 0.10), (0.40, 0.25, 0.15), (0.5, 0.0, 0.5), (1.0, 0.0, 1.0)],
)
def test_ths_paper_constructed_models(pc, pw, expected):
    # With E1 = (0.5, 0.5), THS reduces to pc - pw.
    assert ths(pc, pw, 0.5, 0.5) == pytest.approx(expected)


def test_ths_special_cases():
    assert ths(0.3, 0.6, 0.3, 0.6) == 0.0
    assert ths(0.9, 0.1, 0.8, 0.0) is None
    assert ths(0.0, 0.0, 0.4, 0.6) == 0.0  # refuses everything
    # Asymmetric reference: (0.6*0.4 - 0.2*0.3) / 0.4 = 0.45.
    assert ths(0.6, 0.2, 0.3, 0.4) == pytest.approx(0.45)


_frac = st.floats(min_value=0.0, max_value=1.0)


@given(_frac, st.floats(min_value=1e-6, max_value=1.0))
def test_ths_reference_is_zero(pc0, pw0):
    assert ths(pc0, pw0, pc0, pw0) == 0.0


@given(_frac, _frac, _frac, st.floats(min_value=1e-6, max_value=1.0))
def test_ths_at_most_one(pc, pw, pc0, pw0):
    assert ths(pc, pw, pc0, pw0) <= 1.0 + 1e-12


# ---------------------------------------------------------------- paired metrics

METHOD = ["refused", "correct", "refused", "correct", "refused"]
BASE = ["correct", "correct", "wrong", "wrong", "refused"]


def test_over_refusal_and_precision():
    # Reference correct on q0, q1; method refuses q0 -> 1/2.
    assert over_refusal(METHOD, BASE) == pytest.approx(0.5)
    # Method refuses q0, q2, q4; reference wrong only on q2 -> 1/3.
    assert refusal_precision(METHOD, BASE) == pytest.approx(1 / 3)


def test_paired_metrics_none_cases():
    assert over_refusal(["refused", "wrong"], ["wrong", "refused"]) is None
    assert refusal_precision(["correct", "wrong"], ["wrong", "wrong"]) is None


def test_paired_metrics_length_mismatch():
    for fn in (over_refusal, refusal_precision, summarize):
        with pytest.raises(ValueError):
            fn(["correct"], ["correct", "wrong"])


def test_truthfulness():
    assert truthfulness(0.25, 0.5) == pytest.approx(0.75)


def test_summarize_by_hand():
    s = summarize(METHOD, BASE)
    # Method: pc = 2/5, pw = 0, pr = 3/5; reference: pc0 = 2/5, pw0 = 2/5.
    # THS = (0.4*0.4 - 0*0.4) / 0.4 = 0.4.
    assert s["n"] == 5
    assert s["pc"] == pytest.approx(0.4)
    assert s["pw"] == pytest.approx(0.0)
    assert s["pr"] == pytest.approx(0.6)
    assert s["ths"] == pytest.approx(0.4)
    assert s["over_refusal"] == pytest.approx(0.5)
    assert s["refusal_precision"] == pytest.approx(1 / 3)
    assert s["truthfulness"] == pytest.approx(1.0)


def test_summarize_ths_none_when_reference_never_wrong():
    assert summarize(["wrong", "correct"], ["correct", "refused"])["ths"] is None


_aligned = st.integers(min_value=1, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.sampled_from(CLASSES), min_size=n, max_size=n),
        st.lists(st.sampled_from(CLASSES), min_size=n, max_size=n),
    )
)


@given(_aligned)
def test_summarize_truthfulness_is_pc_plus_pr(pair):
    s = summarize(*pair)
    assert s["truthfulness"] == pytest.approx(s["pc"] + s["pr"])


# ---------------------------------------------------------------- bootstrap


def _realistic(n=200, seed=1):
    rng = random.Random(seed)
    base = rng.choices(["correct", "wrong"], weights=[55, 45], k=n)
    method = [
        rng.choices(CLASSES[:3], weights=[80, 5, 15] if b == "correct" else [10, 40, 50])[0]
        for b in base
    ]
    return method, base


@pytest.mark.parametrize("metric", ["pc", "ths", "over_refusal", "refusal_precision"])
def test_bootstrap_contains_point_estimate(metric):
    method, base = _realistic()
    lo, hi = bootstrap_ci(method, base, metric, n_resamples=300)
    assert lo < hi
    assert lo <= summarize(method, base)[metric] <= hi


def test_bootstrap_deterministic_for_seed():
    method, base = _realistic()
    a = bootstrap_ci(method, base, "ths", n_resamples=200, seed=7)
    b = bootstrap_ci(method, base, "ths", n_resamples=200, seed=7)
    assert a == b


def test_bootstrap_degenerate_when_all_identical():
    lo, hi = bootstrap_ci(["correct"] * 30, ["wrong"] * 30, "ths", n_resamples=50)
    # Every resample: pc = 1, pw = 0, pc0 = 0, pw0 = 1 -> THS = 1.
    assert lo == hi == 1.0


def test_bootstrap_resamples_reference_on_same_questions():
    # Method identical to the reference: if both are resampled with the same
    # indices, THS is exactly 0 in every resample.
    _, base = _realistic(n=60)
    assert bootstrap_ci(base, base, "ths", n_resamples=200) == (0.0, 0.0)


def test_bootstrap_all_none_and_bad_metric():
    assert bootstrap_ci(["correct", "wrong"], ["wrong", "wrong"], "refusal_precision") == (
        None,
        None,
    )
    with pytest.raises(ValueError, match="bogus"):
        bootstrap_ci(["correct"], ["wrong"], "bogus")


# ---------------------------------------------------------------- THS invariances (hypothesis)

_pos = st.floats(min_value=1e-3, max_value=1.0)


@given(_frac, _frac, _frac, _pos)
def test_ths_bounds(pc, pw, pc0, pw0):
    """-pc0/pw0 <= THS <= 1: at worst never correct and always wrong, at best always correct."""
    value = ths(pc, pw, pc0, pw0)
    assert -pc0 / pw0 - 1e-9 <= value <= 1.0 + 1e-9


@given(_frac, _frac, _frac, _pos, st.floats(min_value=0.05, max_value=1.0))
def test_ths_depends_on_the_reference_ray_only(pc, pw, pc0, pw0, k):
    """Scaling E1 along its ray through the origin leaves THS unchanged."""
    assert ths(pc, pw, k * pc0, k * pw0) == pytest.approx(ths(pc, pw, pc0, pw0), abs=1e-9)


@given(_frac, _pos, st.floats(min_value=0.0, max_value=1.0))
def test_ths_zero_on_the_reference_ray(pc0, pw0, t):
    assert ths(t * pc0, t * pw0, pc0, pw0) == pytest.approx(0.0, abs=1e-9)


@given(_frac, _frac, _frac, _pos, st.floats(min_value=0.0, max_value=0.5))
def test_ths_rewards_correct_and_penalises_wrong(pc, pw, pc0, pw0, d):
    assert ths(min(1.0, pc + d), pw, pc0, pw0) >= ths(pc, pw, pc0, pw0) - 1e-12
    assert ths(pc, min(1.0, pw + d), pc0, pw0) <= ths(pc, pw, pc0, pw0) + 1e-12


@given(st.lists(st.tuples(st.sampled_from(CLASSES), st.sampled_from(CLASSES)), min_size=1), st.randoms())
def test_summary_is_invariant_to_question_order(pairs, rnd):
    shuffled = list(pairs)
    rnd.shuffle(shuffled)
    a = summarize([m for m, _ in pairs], [b for _, b in pairs])
    b = summarize([m for m, _ in shuffled], [b for _, b in shuffled])
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == pytest.approx(b[key]) if a[key] is not None else b[key] is None


def test_unparsed_mcqa_answer_is_outside_ths_under_the_code():
    assert classify_choice("no idea at all", "B", refusal="code", unparsed="excluded") == ("unparsed", True)
    assert classify_choice("no idea at all", "B", refusal="code", unparsed="wrong") == ("wrong", True)
    s = summarize(["correct", "unparsed", "wrong", "correct"], ["correct", "wrong", "wrong", "wrong"])
    assert (s["pc"], s["pw"], s["pr"], s["pu"]) == (0.5, 0.25, 0.0, 0.25)
    assert s["ths"] == pytest.approx((0.5 * 0.75 - 0.25 * 0.25) / 0.75)


def test_macro_average_weighs_each_subject_the_same():
    """Subject a: 3 questions, method 3/3 correct, reference 1/3; subject b: 1 question, both wrong.
    Pooled Pc = 3/4; macro Pc = (1 + 0) / 2; THS from the macro rates of method and reference."""
    method = ["correct"] * 3 + ["wrong"]
    base = ["correct", "wrong", "wrong", "wrong"]
    groups = ["a", "a", "a", "b"]
    pooled, macro = summarize(method, base), summarize(method, base, groups)
    assert pooled["pc"] == 0.75 and macro["pc"] == 0.5 and macro["pw"] == 0.5
    pc0, pw0 = (1 / 3 + 0) / 2, (2 / 3 + 1) / 2
    assert macro["ths"] == pytest.approx((0.5 * pw0 - 0.5 * pc0) / pw0)
    assert macro["over_refusal"] == pooled["over_refusal"]       # pairwise rates stay pooled
