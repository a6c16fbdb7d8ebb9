import pytest

from harness.data.prompts import IDK, REFUSE_PREFIX, choice_body, choice_fewshot, open_fewshot, styled


def test_refuse_style_is_the_craft_code_instruction():
    assert styled("Who?", "refuse") == REFUSE_PREFIX + "Who?"
    assert "only reply with 'I don't know'" in REFUSE_PREFIX
    assert styled("Who?", "basic") == "Who?"
    assert IDK == "I don't know"


def test_unknown_style_names_valid_ones():
    with pytest.raises(ValueError, match="basic, refuse"):
        styled("x", "polite")


def test_choice_body_letters_follow_the_number_of_options():
    four = choice_body("Q?", ["w", "x", "y", "z"], "high_school_biology")
    assert "about high school biology" in four and "(A, B, C or D)" in four
    assert four.endswith("C. y\nD. z\nAnswer:")
    three = choice_body("Q?", ["w", "x", "y"])
    assert "(A, B or C)" in three and "D." not in three


def test_fewshot_prompts_end_with_the_open_question():
    p = open_fewshot("Capital of Peru?")
    assert p.count("Answer the following question as simple as possible.") == 4
    assert p.endswith("Question: Capital of Peru?\nAnswer:")
    assert "Harry Truman" in p
    c = choice_fewshot("BODY\nAnswer:", [("S1\nAnswer:", "B"), ("S2\nAnswer:", "D")])
    assert c == "S1\nAnswer: B\n\nS2\nAnswer: D\n\nBODY\nAnswer:"


def test_a_base_models_mcqa_prompt_has_one_answer_cue():
    """The completion form of a prompt that ends with its own `Answer:` (MMLU, the 3-shot query) keeps
    it as it is: wrapped, it read `Answer: \\nAnswer:` and a base model answered `Answer:` every time."""
    from harness.data.prompts import code_choice_text, completion, open_fewshot
    mcqa = code_choice_text("Which?", ["a", "b", "c", "d"], "geo", "basic")
    text = completion([{"role": "user", "content": mcqa}])
    assert text.count("Answer:") == 1 and text.endswith("Answer:") and not text.startswith("Question: The following")
    shots = completion([{"role": "user", "content": open_fewshot("Who?")}])
    assert shots.count("Question: Question:") == 0 and shots.endswith("Answer:")
    assert completion([{"role": "user", "content": "Who wrote Hamlet?"}]) == "Question: Who wrote Hamlet?\nAnswer:"
