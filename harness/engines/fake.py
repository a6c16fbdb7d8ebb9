"""A scripted engine: deterministic answers from rules, no model (inspect's `mockllm`, lm-eval's
`dummy`). `--engine fake` runs the whole pipeline's plumbing in seconds; unit tests script it.

A script is a JSON file named by `--model` (or a dict given in code):
    {"rules": [{"when": ["France|Paris", "Question:"], "answer": "B"},
               {"when": ["France|Paris"], "answer": ["Paris", "Lyon"]}],
     "default": "I don't know."}
The first rule whose every regular expression is found in the prompt gives the answer; a list of
answers is sampled from, sample k chosen by (seed, prompt, k) as the real engines seed. Option
log-probabilities favour the option a rule's answer starts with; hidden states are a hash of the
prompt. A name that is not a file gets DEFAULT_SCRIPT.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Sequence

from harness.engines.protocol import EngineSpec
from harness.run.fingerprint import sha
from harness.engines.gencache import sample_seed

# Letters for MCQA prompts, a refusal where the prompt allows one, a guess otherwise (greedy: the first).
DEFAULT_SCRIPT = {"rules": [{"when": ["Question:"], "answer": ["A", "B", "C", "D"]},
                            {"when": ["only reply with 'I don't know'"], "answer": ["I don't know.", "Paris"]}],
                  "default": ["Paris", "London", "1945"]}
LOADED: list[EngineSpec] = []      # every spec a fake engine was made from, in order (for tests)


def read_script(model: str) -> dict:
    path = Path(model)
    if not path.is_file():
        return DEFAULT_SCRIPT
    try:
        script = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"fake engine script {path} is not valid JSON: {err}") from None
    if not isinstance(script, dict) or not isinstance(script.get("rules", []), list):
        raise ValueError(f"fake engine script {path}: expected {{\"rules\": [...], \"default\": ...}}")
    return script


class FakeEngine:
    def __init__(self, spec: EngineSpec, script: dict | None = None):
        self.spec = spec
        self.script = script if script is not None else read_script(spec.model)
        LOADED.append(spec)

    def apply_template(self, user: str | list[dict]) -> str:
        if self.spec.prompt_style == "completion":
            from harness.data.prompts import completion
            return completion([{"role": "user", "content": user}] if isinstance(user, str) else user)
        if isinstance(user, list):
            return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in user)
        return f"<user>{user}</user>"

    def batches(self, prompts: Sequence[str], n: int = 1):
        size = max(1, self.spec.batch_size // n)
        return [list(range(i, min(i + size, len(prompts)))) for i in range(0, len(prompts), size)]

    def _answers(self, prompt: str) -> list[str]:
        for rule in self.script.get("rules", []):
            if all(re.search(pattern, prompt) for pattern in rule["when"]):
                answer = rule["answer"]
                return answer if isinstance(answer, list) else [answer]
        default = self.script.get("default", "")
        return default if isinstance(default, list) else [default]

    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0,
                 max_new_tokens: int = 32, seed: int = 0, desc: str | None = None,
                 stop: Sequence[str] = ()) -> list[list[str]]:
        out = []
        for p in prompts:
            answers = self._answers(p)
            if temperature <= 0:
                out.append([answers[0]] * n)
            else:
                out.append([answers[sample_seed(seed, p, k) % len(answers)] for k in range(n)])
        return out

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str],
                        desc: str | None = None) -> list[list[float]]:
        out = []
        for p in prompts:
            first = self._answers(p)[0].strip()
            scores = [2.0 if first.startswith(o) else 0.0 for o in options]
            norm = math.log(sum(math.exp(s) for s in scores))
            out.append([s - norm for s in scores])
        return out

    def continuation_logprobs(self, prompts: Sequence[str], continuations: Sequence[str],
                              desc: str | None = None) -> list[list[float]]:
        """A word is a token; a continuation the script answers for its prompt has probability 1,
        any other 1/2 a word."""
        return [[0.0 if c.strip() in [a.strip() for a in self._answers(p)] else math.log(0.5)] * len(c.split())
                for p, c in zip(prompts, continuations)]

    def hidden_states(self, prompts: Sequence[str]) -> list[list[float]]:
        return [[int(sha(p)[i:i + 2], 16) / 255 for i in range(0, 16, 2)] for p in prompts]

    def close(self) -> None:
        pass


def load(spec: EngineSpec) -> FakeEngine:
    return FakeEngine(spec)
