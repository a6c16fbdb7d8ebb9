"""What every engine offers its callers, and what it is built from."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence


@dataclass(frozen=True)
class EngineSpec:
    """What an engine loads. `model` is already resolved (hub id or directory; for the fake engine a
    script file or any name)."""
    model: str
    adapter: str | None = None
    dtype: str = "bfloat16"
    batch_size: int = 16
    device: str = "auto"
    trust_remote_code: bool = False
    cache: str | None = None                # generation cache file (engines/cache.py); None: off
    cache_shard: str | None = None          # where this process writes instead (executors: gencache.merge)
    prompt_style: str = "auto"              # prompts.render_chat: auto, chat or completion


class Engine(Protocol):
    """The whole surface callers use; the generation cache (engines/cache.py) wraps any engine that
    has it. `desc` names the progress bar; None shows none (the caller shows its own)."""
    spec: EngineSpec

    def apply_template(self, user: str | list[dict]) -> str:
        """The model's chat template around one user turn or a list of chat messages, or the
        completion prompt (`Question: ...\nAnswer:`) under spec.prompt_style (prompts.render_chat)."""

    def batches(self, prompts: Sequence[str], n: int = 1) -> Iterable[list[int]]:
        """How the engine groups prompts (indices) into one forward pass, n rows per prompt. It
        depends only on the prompts, so a resumed run computes in the same groups, and an engine
        given exactly one group computes it as one."""

    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0,
                 max_new_tokens: int = 32, seed: int = 0, desc: str | None = "generate",
                 stop: Sequence[str] = ()) -> list[list[str]]:
        """n completions per prompt; greedy when temperature == 0; sample k of a prompt depends only
        on (seed, prompt, k), never on the other prompts of its batch. A sequence may end once its text
        holds one of `stop` (a saving, not a cut: the text may run on past it, callers cut)."""

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str],
                        desc: str | None = "score options") -> list[list[float]]:
        """Next-token log-probabilities of each option's first token after each prompt."""

    def continuation_logprobs(self, prompts: Sequence[str], continuations: Sequence[str],
                              desc: str | None = "score continuations") -> list[list[float]]:
        """Log-probability of each token of each continuation after its prompt (teacher forcing; the
        two tokenized apart and joined, as the engine's prompts are tokenized)."""

    def hidden_states(self, prompts: Sequence[str]) -> list[list[float]]:
        """One vector per prompt from the last hidden layer (question representations for CRSS);
        raises NotImplementedError where the backend hides them."""

    def close(self) -> None:
        """Release the model (and any worker process) now rather than at exit."""
