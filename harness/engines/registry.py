"""The engines, a literal dict; `make_engine` loads one by name, behind the generation cache."""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from harness.engines.protocol import Engine, EngineSpec

@dataclass(frozen=True)
class EngineEntry:
    module: str               # imported only when the engine is made (torch, vllm are heavy)
    description: str
    loads_models: bool = True  # False: `--model` names a script, not a model to resolve
    requires: str | None = None  # the package it needs, checked before the first stage


ENGINES = {
    "hf": EngineEntry("harness.engines.hf", "transformers (CPU or CUDA)", requires="transformers"),
    "vllm": EngineEntry("harness.engines.vllm", "vLLM (GPU; tensor parallel via HARNESS_TP)", requires="vllm"),
    "fake": EngineEntry("harness.engines.fake", "scripted, deterministic answers, no model (tests, dry plumbing)",
                        loads_models=False),
}


def engine_entry(name: str) -> EngineEntry:
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; valid: {', '.join(ENGINES)}")
    return ENGINES[name]


def check_engine(name: str) -> None:
    """The engine exists and its package is installed (before any stage, not when it first loads)."""
    entry = engine_entry(name)
    if entry.requires and importlib.util.find_spec(entry.requires) is None:
        raise ValueError(f"--engine {name} needs the package {entry.requires!r}, which is not installed "
                         f"(pip install {entry.requires}); or use --engine hf")


def make_engine(name: str, spec: EngineSpec) -> Engine:
    """The engine `name` loaded from `spec`, behind the generation cache when spec.cache is set."""
    engine = importlib.import_module(engine_entry(name).module).load(spec)
    if spec.cache is None:
        return engine
    from harness.engines.cache import CachingEngine
    return CachingEngine(engine, name)
