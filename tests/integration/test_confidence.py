"""Per-token log-probabilities of a continuation (R-Tuning's p(answer)) on the real tiny model: the
first token's equals the option score of the same token, and a batch of prompts of different lengths
(left padding) gives what each prompt gives alone."""
import pytest

from harness.engines.hf import HFEngine
from harness.engines.models import resolve
from harness.engines.protocol import EngineSpec

pytestmark = pytest.mark.integration


def test_continuation_logprobs_agree_with_option_scores_and_do_not_depend_on_the_batch():
    engine = HFEngine(EngineSpec(model=resolve("smollm2-135m"), dtype="float32", batch_size=8))
    prompts = [engine.apply_template(q) for q in ("What is the capital of France?",
                                                   "Which planet in the solar system has the most moons, by the latest count?")]
    conts = ["Paris is the capital", "Saturn"]
    together = engine.continuation_logprobs(prompts, conts)
    alone = [engine.continuation_logprobs([p], [c])[0] for p, c in zip(prompts, conts)]
    assert [len(t) for t in together] == [len(engine.tok.encode(c, add_special_tokens=False)) for c in conts]
    for a, b in zip(together, alone):
        assert a == pytest.approx(b, abs=1e-4)
    first = engine.option_logprobs(prompts[:1], [conts[0]])[0][0]
    assert together[0][0] == pytest.approx(first, abs=1e-4)
    assert all(v <= 0 for t in together for v in t)


def _lm_eval_continuation(tok, context: str, continuation: str) -> list[int]:
    """lm-eval's own split and tokenization of a loglikelihood request (TemplateLM._encode_pair)."""
    from lm_eval.api.model import TemplateLM

    class Split:
        backend = "causal"

        def tok_encode(self, text, **_):
            return tok.encode(text, add_special_tokens=False)
    return TemplateLM._encode_pair(Split(), context, continuation)[1]


def test_option_scoring_by_continuation_is_lm_evals_on_both_prompt_forms():
    """The paper preset's query prompt ends "Answer: " (no chat template): lm-eval scores " A", the
    token the model writes there, and the bare letter gets a sliver of the mass. After the chat
    template's assistant turn the letter follows "\\n": the split moves it into every option, which
    leaves the renormalised option probabilities of the bare next token unchanged."""
    import math

    from harness.data.prompts import code_choice_text
    from harness.knowledge.query import continuation_split, letter_logprobs, option_probs
    engine = HFEngine(EngineSpec(model=resolve("smollm2-135m"), dtype="float32", batch_size=8))
    items = [{"question": q, "choices": c, "subject": "geography"} for q, c in (
        ("What is the capital of France?", ["Berlin", "Paris", "Rome", "Madrid"]),
        ("Which ocean is the largest?", ["Atlantic", "Indian", "Pacific", "Arctic"]))]
    paper = [code_choice_text(it["question"], it["choices"], it["subject"], "basic") for it in items]
    chat = [engine.apply_template(p) for p in paper]
    assert all(p.endswith("Answer: ") for p in paper) and all(p.endswith("\n") for p in chat)
    for prompt in paper + chat:          # our split tokenizes each option as lm-eval does
        for letter in "ABCD":
            ctx, cont = continuation_split(prompt, letter)
            assert engine.tok.encode(cont, add_special_tokens=False) == _lm_eval_continuation(engine.tok, prompt, letter)
    cont_paper = letter_logprobs(engine, paper, items, "continuation")
    bare_paper = letter_logprobs(engine, paper, items, "next_token")
    spaced = engine.option_logprobs([p.rstrip() for p in paper], [" A", " B", " C", " D"])
    for c, s, b in zip(cont_paper, spaced, bare_paper):
        assert c == pytest.approx(s, abs=1e-4)                     # " A" is one token after "Answer:"
        assert sum(math.exp(x) for x in c) > 10 * sum(math.exp(x) for x in b)
    cont_chat = letter_logprobs(engine, chat, items, "continuation")
    bare_chat = letter_logprobs(engine, chat, items, "next_token")
    for c, b in zip(cont_chat, bare_chat):
        assert option_probs(c) == pytest.approx(option_probs(b), abs=1e-4)
        newline = c[0] - b[0]                                      # log p("\n" | ...assistant), the same for each
        assert [x - y for x, y in zip(c, b)] == pytest.approx([newline] * 4, abs=1e-4) and newline <= 0
