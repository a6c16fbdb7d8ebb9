"""Per-token log-probabilities of a continuation (R-Tuning's p(answer)) on the real tiny model: the
first token's equals the option score of the same token, and a batch of prompts of different lengths
(left padding) gives what each prompt gives alone."""
import pytest

from harness.engines.hf import HFEngine
from harness.engines.protocol import EngineSpec
from harness.models import resolve

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
