"""The generation cache around any engine (engines/cache.py), on the fake engine: answers reused
whatever the batch size, computed in the engine's own groups, each group committed at once."""
import pytest

from harness.engines import fake
from harness.engines.cache import CachingEngine
from harness.engines.protocol import EngineSpec
from harness.engines.registry import make_engine

SCRIPT = {"rules": [{"when": ["Question:"], "answer": ["A", "B"]}], "default": ["x", "y", "z"]}
PROMPTS = [f"q{i}" for i in range(5)] + ["Question: pick"]


class Counting(fake.FakeEngine):
    """The fake engine, remembering the prompts of each call it computed."""
    def __init__(self, spec):
        super().__init__(spec, SCRIPT)
        self.calls = []

    def generate(self, prompts, *a, **k):
        self.calls.append(list(prompts))
        return super().generate(prompts, *a, **k)

    def option_logprobs(self, prompts, options, desc=None):
        self.calls.append(list(prompts))
        return super().option_logprobs(prompts, options, desc)


def caching(tmp_path, batch_size):
    return CachingEngine(Counting(EngineSpec(model="fake", batch_size=batch_size,
                                             cache=str(tmp_path / "gen.sqlite"))), "fake")


def test_make_engine_wraps_only_when_a_cache_is_asked(tmp_path):
    assert isinstance(make_engine("fake", EngineSpec(model="s", cache=str(tmp_path / "g.sqlite"))), CachingEngine)
    assert isinstance(make_engine("fake", EngineSpec(model="s")), fake.FakeEngine)
    with pytest.raises(ValueError, match="unknown engine 'tgi'; valid: hf, vllm, fake"):
        make_engine("tgi", EngineSpec(model="s"))


def test_samples_are_cached_and_reused_whatever_the_batch_size(tmp_path):
    first = caching(tmp_path, batch_size=4)
    sampled = first.generate(PROMPTS, n=2, temperature=0.7, seed=3)
    assert first.engine.calls == [PROMPTS[:2], PROMPTS[2:4], PROMPTS[4:]]      # the engine's groups of 4 rows
    assert sampled == first.engine.generate(PROMPTS, n=2, temperature=0.7, seed=3)
    first.close()
    again = caching(tmp_path, batch_size=1)
    assert again.generate(PROMPTS, n=2, temperature=0.7, seed=3) == sampled
    assert again.engine.calls == [] and again.cache.hits == len(PROMPTS)
    again.generate(PROMPTS[:1], n=2, temperature=0.7, seed=4)
    assert again.engine.calls == [PROMPTS[:1]]                                  # a new seed is generated


def test_greedy_answers_are_one_answer_repeated(tmp_path):
    e = caching(tmp_path, batch_size=8)
    assert e.generate(PROMPTS[:2], n=3) == [["x"] * 3, ["x"] * 3]
    assert e.generate(PROMPTS[:2], n=1) == [["x"], ["x"]] and len(e.engine.calls) == 1


def test_option_scores_are_cached(tmp_path):
    e = caching(tmp_path, batch_size=8)
    scores = e.option_logprobs(PROMPTS[-1:], ["A", "B"])
    assert scores[0][0] > scores[0][1]                      # the rule's first answer is favoured
    assert e.option_logprobs(PROMPTS[-1:], ["A", "B"]) == scores and len(e.engine.calls) == 1


def test_a_group_is_committed_before_the_next_is_computed(tmp_path):
    e = caching(tmp_path, batch_size=2)

    def fail_on_second_group(prompts, *a, **k):
        if e.engine.calls:
            raise KeyboardInterrupt("killed")
        e.engine.calls.append(prompts)
        return fake.FakeEngine.generate(e.engine, prompts, *a, **k)
    e.engine.generate = fail_on_second_group
    with pytest.raises(KeyboardInterrupt):
        e.generate(PROMPTS, n=1, temperature=0.7)
    e.close()
    resumed = caching(tmp_path, batch_size=2)
    resumed.generate(PROMPTS, n=1, temperature=0.7)
    assert resumed.cache.hits == 2 and resumed.engine.calls == [PROMPTS[2:4], PROMPTS[4:]]
