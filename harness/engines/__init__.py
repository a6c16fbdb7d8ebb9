"""Inference engines behind one small interface; pick one by name."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence


class Engine(Protocol):
    def apply_template(self, user: str | list[dict]) -> str:
        """The model's chat template around one user turn or a list of chat messages
        (plain text for base models)."""

    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0,
                 max_new_tokens: int = 32, seed: int = 0) -> list[list[str]]:
        """n completions per prompt; greedy when temperature == 0; reproducible under a seed."""

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> list[list[float]]:
        """Next-token log-probabilities of each option's first token after each prompt."""

    def hidden_states(self, prompts: Sequence[str]) -> list[list[float]]:
        """One vector per prompt from the last hidden layer (question representations for CRSS)."""


@dataclass(frozen=True)
class EngineSpec:
    """What an engine loads. `model` is already resolved (hub id or directory)."""
    model: str
    adapter: str | None = None
    dtype: str = "bfloat16"
    batch_size: int = 16
    device: str = "auto"
    trust_remote_code: bool = False
    cache: str | None = None                # generation cache file (harness/gencache.py); None: off


def make_engine(kind: str, spec: EngineSpec) -> Engine:
    if kind == "hf":
        from harness.engines.hf import HFEngine
        return HFEngine(spec)
    if kind == "vllm":
        from harness.engines.vllm import VLLMEngine
        return VLLMEngine(spec)
    raise ValueError(f"unknown engine {kind!r}; valid: {', '.join(ENGINES)}")


ENGINES = {"hf": "transformers (CPU or CUDA)", "vllm": "vLLM (GPU; tensor parallel via HARNESS_TP)"}
