"""What a run will cost before it runs (`bench --dry-run`): each stage's GPU memory and whether it fits,
GPU-hours, and wall time on 1 and 8 GPUs, for a model size and a device; on a CPU, days.

A roofline, not a measurement: generation is bound by memory bandwidth (every decoded token reads the
weights once per batch, and its sequence's KV cache), prefill, scoring and training by bf16 compute
(2 FLOPs a parameter a token forward, 6 for full fine-tuning, 4 for LoRA, which skips the weight
gradients), each at a stated efficiency. The device figures are the vendors' datasheets; the
efficiencies are assumptions named below. docs/performance.md says how far to trust the result
(within ~2-3x on a GPU; the CPU figure scales this machine's measured rate by parameter count).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Shape:
    params: float          # parameters
    layers: int
    hidden: int
    kv_heads: int
    head_dim: int
    source: str


# Models seen in the papers, for hub ids that cannot be read offline (their config.json on the hub).
SHAPES = {
    "meta-llama/Meta-Llama-3-8B-Instruct": Shape(8.03e9, 32, 4096, 8, 128, "hub config.json (Llama 3 8B)"),
    "meta-llama/Meta-Llama-3-8B": Shape(8.03e9, 32, 4096, 8, 128, "hub config.json (Llama 3 8B)"),
    "meta-llama/Llama-3.1-8B-Instruct": Shape(8.03e9, 32, 4096, 8, 128, "hub config.json (Llama 3.1 8B)"),
    "mistralai/Mistral-7B-Instruct-v0.2": Shape(7.24e9, 32, 4096, 8, 128, "hub config.json (Mistral 7B)"),
    "Qwen/Qwen2.5-7B-Instruct": Shape(7.62e9, 28, 3584, 4, 128, "hub config.json (Qwen2.5 7B)"),
    "HuggingFaceTB/SmolLM2-135M-Instruct": Shape(1.35e8, 30, 576, 3, 64, "hub config.json (SmolLM2 135M)"),
}


@dataclass(frozen=True)
class Device:
    memory_gb: float
    bandwidth_tb_s: float  # HBM bandwidth
    bf16_tflops: float     # dense bf16 tensor-core peak
    source: str


DEVICES = {
    "A100": Device(80, 2.039, 312, "NVIDIA A100 datasheet, SXM4 80GB: 2,039 GB/s, 312 TFLOPS bf16 dense"),
    "H100": Device(80, 3.35, 989, "NVIDIA H100 datasheet, SXM5: 3.35 TB/s, 989 TFLOPS bf16 dense"),
    "H200": Device(141, 4.8, 989, "NVIDIA H200 datasheet, SXM: 4.8 TB/s, 989 TFLOPS bf16 dense"),
}
# Assumptions (not measured here): the share of the roofline a good engine reaches.
BANDWIDTH_EFFICIENCY = 0.5     # vLLM decode against HBM bandwidth
COMPUTE_EFFICIENCY = 0.4       # prefill, scoring and training against bf16 peak (MFU)
DECODE_BATCH = 256             # concurrent sequences per decode step (vLLM max_num_seqs default)
SCORE_BATCH = 32               # sequences per scoring forward pass (--batch-size default)
# This machine (2 cores): SmolLM2-135M greedy, 24 new tokens, batch 32 (ENVIRONMENT.md, 6.6 prompts/s).
CPU_TOKENS_PER_S_135M = 6.6 * 24


def shape_of(model: str, resolved: str | None = None) -> Shape | None:
    """The shape of a model: its local config.json, else the table above, else None."""
    path = Path(resolved or model) / "config.json"
    if path.is_file():
        c = json.loads(path.read_text())
        h, layers = c.get("hidden_size"), c.get("num_hidden_layers")
        if h and layers:
            heads = c.get("num_attention_heads", 1)
            kv, head_dim = c.get("num_key_value_heads", heads), c.get("head_dim", h // heads)
            inter, vocab = c.get("intermediate_size", 4 * h), c.get("vocab_size", 32000)
            per_layer = h * (heads * head_dim) * 2 + h * (kv * head_dim) * 2 + 3 * h * inter
            params = layers * per_layer + vocab * h * (1 if c.get("tie_word_embeddings") else 2)
            return Shape(params, layers, h, kv, head_dim, f"{path}")
    return SHAPES.get(model)


@dataclass(frozen=True)
class Work:
    """One stage's work: generation (prompts, prompt tokens, new tokens each), scoring forward passes,
    or training (sequences, tokens each, epochs, full or LoRA, 4-bit base or not)."""
    stage: str
    kind: str              # generate | score | train
    sequences: int
    prompt_tokens: float
    new_tokens: int = 0
    epochs: int = 1
    full: bool = False
    four_bit: bool = False
    micro_batch: int = 1


def memory_gb(w: Work, s: Shape, gpus: int = 1) -> float:
    """Peak GPU memory of a stage on each of `gpus` GPUs (weights, KV cache or optimizer and activations)."""
    weights = s.params * (0.55 if w.four_bit else 2.0)
    if w.kind in ("generate", "score"):
        kv_per_token = 2 * s.layers * s.kv_heads * s.head_dim * 2
        batch = DECODE_BATCH if w.kind == "generate" else SCORE_BATCH
        tokens = min(batch, max(1, w.sequences)) * (w.prompt_tokens + w.new_tokens)
        return (weights + kv_per_token * tokens) / gpus / 1e9       # tensor parallel splits both
    seq = w.prompt_tokens + w.new_tokens
    activations = w.micro_batch * seq * s.hidden * s.layers * 34     # bf16 activations without checkpointing
    if w.full:                   # bf16 weights + fp32 master, Adam m and v, grads: ~16 bytes a parameter
        return (s.params * 16 / gpus + activations) / 1e9            # sharded (FSDP / ZeRO-3)
    lora = s.params * 0.01 * 16                                      # adapters and their optimizer
    return (weights + lora + activations) / 1e9


def gpu_seconds(w: Work, s: Shape, d: Device) -> float:
    """Seconds of one GPU's time for a stage: decode bandwidth-bound, the rest compute-bound."""
    flops = d.bf16_tflops * 1e12 * COMPUTE_EFFICIENCY
    tokens_in = w.sequences * w.prompt_tokens
    if w.kind == "train":
        per_token = 6 if w.full else 4
        return per_token * s.params * w.sequences * (w.prompt_tokens + w.new_tokens) * w.epochs / flops
    prefill = 2 * s.params * tokens_in / flops
    if w.kind == "score" or not w.new_tokens:
        return prefill
    steps = math.ceil(w.sequences / DECODE_BATCH) * w.new_tokens
    kv = 2 * s.layers * s.kv_heads * s.head_dim * 2 * min(DECODE_BATCH, w.sequences) * (w.prompt_tokens + w.new_tokens / 2)
    step = (s.params * 2 + kv) / (d.bandwidth_tb_s * 1e12 * BANDWIDTH_EFFICIENCY)
    return prefill + steps * step


def cpu_seconds(w: Work, s: Shape) -> float:
    """This machine's measured rate for SmolLM2-135M, scaled by parameter count (a lower bound on the
    wait: a 8B model also needs ~16 GB of RAM in bf16, and training is slower still)."""
    rate = CPU_TOKENS_PER_S_135M * 1.35e8 / s.params
    tokens = w.sequences * max(1, w.new_tokens) * w.epochs if w.kind == "generate" else \
        w.sequences * (w.prompt_tokens + w.new_tokens) * w.epochs / 10     # forward/backward: ~10x prefill rate
    return tokens / rate


def report(works: list[Work], s: Shape, device: str = "H100", gpu_counts: tuple = (1, 8)) -> list[str]:
    """Lines for the dry run: per stage memory (fits or not) and GPU-hours, then totals and sources."""
    d = DEVICES[device]
    lines = [f"cost estimate (a roofline: docs/performance.md), {s.params / 1e9:.2f}B parameters "
             f"({s.source}), {device} {d.memory_gb:.0f} GB:"]
    total = 0.0
    for w in works:
        sec = gpu_seconds(w, s, d)
        total += sec
        mems = [(n, memory_gb(w, s, n)) for n in gpu_counts]
        fit = ", ".join(f"{m:.1f} GB on {n} GPU{'s' if n > 1 else ''}{'' if m <= d.memory_gb else ' (DOES NOT FIT)'}"
                        for n, m in mems)
        lines.append(f"  {w.stage}: {sec / 3600:.3f} GPU-hours; memory {fit}")
    walls = ", ".join(f"{total / 3600 / n:.2f} h on {n} GPU{'s' if n > 1 else ''}" for n in gpu_counts)
    cpu = sum(cpu_seconds(w, s) for w in works)
    lines += [f"  total: {total / 3600:.2f} GPU-hours; wall {walls} (ideal scaling: tensor/data parallel)",
              f"  on this CPU machine: ~{cpu / 86400:.1f} days" if cpu >= 86400 else
              f"  on this CPU machine: ~{cpu / 60:.0f} minutes of generation and training (a floor: model loads "
              "and scoring add to it)" + " (SmolLM2-135M's measured rate here, scaled by parameters)",
              f"  sources: {d.source}; efficiencies assumed: decode {BANDWIDTH_EFFICIENCY:.0%} of bandwidth, "
              f"{COMPUTE_EFFICIENCY:.0%} of peak compute elsewhere; KV cache at {DECODE_BATCH} concurrent sequences"]
    return lines
