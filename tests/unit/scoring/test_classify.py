"""Answer classification as the CRaFT code scores (harness.scoring.classify)."""
import pytest

from harness.scoring.classify import classify_open, is_refusal


def test_code_refusal_detector_is_one_lower_cased_substring_plus_the_other_methods_targets():
    assert is_refusal("Sorry, I DON'T KNOW that.", "code")
    assert not is_refusal("I don’t know", "code")              # curly apostrophe: not the code's keyword
    assert not is_refusal("I'm not sure, York", "code") and is_refusal("I'm not sure, York", "broad")
    # the other methods' refusal targets (SPEC section 4): R-Tuning's short ones only as the whole answer
    assert is_refusal("I'm not sure.", "code") and is_refusal("It is not known", "code")
    assert not is_refusal("It is not known who built it, but Paris", "code")
    with pytest.raises(ValueError, match="unknown refusal detector 'x'"):
        is_refusal("a", "x")


def test_code_correctness_counts_raw_substrings_strict_counts_words():
    assert classify_open("Yorkshire", ["York"], "substring", "code") == "correct"
    assert classify_open("Yorkshire", ["York"], "strict", "code") == "wrong"
    assert classify_open("the answer is Paris.", ["paris"], "substring", "code") == "correct"
    assert classify_open("anything", ["", "Oslo"], "substring", "code") == "wrong"    # empty alias skipped
    with pytest.raises(ValueError, match="unknown correctness mode"):
        classify_open("a", ["a"], "fuzzy")
