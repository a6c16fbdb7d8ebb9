"""The engines, a literal dict; `make_engine` loads one by name, behind the generation cache."""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from harness.engines.protocol import Engine, EngineSpec

@dataclass(frozen=True)
class EngineEntry:
    module: str               # imported only when the engine is made (torch, vllm are heavy)
    description: str
    loads_models: bool = True  # False: `--model` names a script, not a model to resolve


ENGINES = {
    "hf": EngineEntry("harness.engines.hf", "transformers (CPU or CUDA)"),
    "vllm": EngineEntry("harness.engines.vllm", "vLLM (GPU; tensor parallel via HARNESS_TP)"),
    "fake": EngineEntry("harness.engines.fake", "scripted, deterministic answers, no model (tests, dry plumbing)",
                        loads_models=False),
}


def engine_entry(kind: str) -> EngineEntry:
    if kind not in ENGINES:
        raise ValueError(f"unknown engine {kind!r}; valid: {', '.join(ENGINES)}")
    return ENGINES[kind]


def make_engine(kind: str, spec: EngineSpec) -> Engine:
    """The engine `kind` loaded from `spec`, behind the generation cache when spec.cache is set."""
    engine = importlib.import_module(engine_entry(kind).module).load(spec)
    if spec.cache is None:
        return engine
    from harness.engines.cache import CachingEngine
    return CachingEngine(engine, kind)
