"""The generation cache around any engine, as lm-eval's CachingLM wraps any LM.

Answers are looked up per prompt (gencache.py keys them by engine, model, adapter, dtype, prompt,
sampling parameters, seed and sample index) and computed in the engine's own groups
(`Engine.batches`), each group committed at once: a run killed mid-stage loses at most the group in
flight, and a resumed run computes the rest in the same groups as an uninterrupted one.
"""
from __future__ import annotations

from typing import Sequence

from harness.engines.protocol import Engine
from harness.engines.gencache import GenCache
from harness.run.progress import over_batches


class CachingEngine:
    def __init__(self, engine: Engine, kind: str):
        spec = engine.spec
        self.engine, self.spec = engine, spec
        self.cache = GenCache(spec.cache, kind, spec.model, spec.adapter, spec.dtype, spec.cache_shard)

    def apply_template(self, user: str | list[dict]) -> str:
        return self.engine.apply_template(user)

    def batches(self, prompts: Sequence[str], n: int = 1):
        return self.engine.batches(prompts, n)

    def hidden_states(self, prompts: Sequence[str]) -> list[list[float]]:
        return self.engine.hidden_states(prompts)

    def continuation_logprobs(self, prompts: Sequence[str], continuations: Sequence[str],
                              desc: str | None = "score continuations") -> list[list[float]]:
        """Not cached: one forward pass per continuation, no sampling to save."""
        return self.engine.continuation_logprobs(prompts, continuations, desc=desc)

    def close(self) -> None:
        self.engine.close()
        self.cache.close()

    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0,
                 max_new_tokens: int = 32, seed: int = 0, desc: str | None = "generate",
                 stop: Sequence[str] = ()) -> list[list[str]]:
        greedy = temperature <= 0
        params = {"temperature": 0.0 if greedy else temperature, "top_p": 1.0, "max_new_tokens": max_new_tokens}
        if stop:
            params["stop"] = list(stop)           # the stored text ends near a stop string
        # The n greedy answers are one answer: cache it once, under seed 0.
        key_seed, key_n = (0, 1) if greedy else (seed, n)
        out = self._cached(prompts, params, key_seed, key_n, desc, lambda todo: self.engine.generate(
            todo, n=key_n, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed, desc=None, stop=stop))
        return [o * n if greedy else o for o in out]

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str],
                        desc: str | None = "score options") -> list[list[float]]:
        out = self._cached(prompts, {"option_logprobs": list(options)}, 0, 1, desc,
                           lambda todo: [[v] for v in self.engine.option_logprobs(todo, options, desc=None)])
        return [o[0] for o in out]

    def _cached(self, prompts: Sequence[str], params: dict, seed: int, n: int, desc: str | None,
                compute) -> list[list]:
        """The n cached values of each prompt; the missing ones computed group by group, each group
        committed to the cache as soon as it is computed."""
        out: list[list | None] = [None] * len(prompts)
        for idx in over_batches(self.engine.batches(prompts, n), len(prompts), desc):
            for i in idx:
                out[i] = self.cache.get(prompts[i], params, seed, n)
            todo = [i for i in idx if out[i] is None]
            if todo:
                for i, values in zip(todo, compute([prompts[i] for i in todo])):
                    out[i] = values
                self.cache.put([(prompts[i], out[i]) for i in todo], params, seed)
        return out
