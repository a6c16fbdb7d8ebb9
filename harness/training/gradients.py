"""Per-sample LoRA gradient features (LESS style, for GRAIT): the gradient of one training row's
answer-only loss with respect to the LoRA parameters, randomly projected to `dim` dimensions and
scaled to unit length, so inner products between rows say how training on one moves the loss of the
other.

The projection is a CountSketch (a sparse Rademacher projection: every parameter adds its gradient,
times a seeded random sign, to one seeded random coordinate). It preserves inner products in
expectation, as LESS's dense Rademacher projection (TRAK's CudaProjector) does, at O(parameters) per
row instead of O(parameters x dim), and needs no projection matrix: an 8B model's 168M LoRA
parameters would need a 168M x 8,192 one. LESS uses Adam-preconditioned gradients from its warmup
checkpoint's optimizer state; the trained-model store keeps no optimizer state, so these are plain
gradients of the warmup model (docs/methods.md).
"""
from __future__ import annotations

import time
from typing import Mapping, Sequence

import numpy as np

from harness.run.progress import progress


def sketch(n_params: int, dim: int, seed: int, device):
    """The CountSketch of `n_params` parameters into `dim` coordinates: (bucket, sign) per parameter."""
    import torch
    g = torch.Generator().manual_seed(seed)
    bucket = torch.randint(0, dim, (n_params,), generator=g).to(device)
    sign = (torch.randint(0, 2, (n_params,), generator=g) * 2 - 1).to(device)
    return bucket, sign


def project(flat, bucket, sign, dim: int):
    import torch
    out = torch.zeros(dim, dtype=torch.float32, device=flat.device)
    return out.index_add_(0, bucket, flat.float() * sign)


def load_lora(base_model: str, start: dict, lora: Mapping, seed: int, dtype: str, trust_remote_code: bool):
    """The warmup model with trainable LoRA parameters: the warmup's own adapter (start["adapter"]), or
    a new seeded LoRA on a full model (start["model"]) or the base."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    path = start.get("model", base_model)
    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code)
    torch.manual_seed(seed)
    if start.get("adapter"):
        model = PeftModel.from_pretrained(model, start["adapter"], is_trainable=True)
    else:
        model = get_peft_model(model, LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=0.0,
                                                 target_modules=list(lora["target_modules"]), task_type="CAUSAL_LM"))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return tok, model.to(device)


def features(base_model: str, rows: Sequence[Mapping], start: dict | None = None, dim: int = 8192, seed: int = 0,
             lora: Mapping | None = None, max_length: int = 1024, dtype: str = "float32",
             trust_remote_code: bool = False, prompt_style: str = "auto") -> tuple[np.ndarray, dict]:
    """Unit-length projected gradients, one row per {prompt, target} row (float32, len(rows) x dim), and
    a report (parameters, seconds)."""
    import torch

    from harness.training.sft import build_examples
    lora = lora or {"r": 128, "alpha": 512, "target_modules": ("q_proj", "k_proj", "v_proj", "o_proj")}
    started = time.time()
    tok, model = load_lora(base_model, start or {}, lora, seed, dtype, trust_remote_code)
    model.eval()                                     # no dropout: a row's gradient is a function of the row
    params = [p for p in model.parameters() if p.requires_grad]
    n_params = sum(p.numel() for p in params)
    device = params[0].device
    bucket, sign = sketch(n_params, dim, seed, device)
    examples = build_examples(tok, rows, max_length, prompt_style)
    out = np.zeros((len(rows), dim), dtype=np.float32)
    with progress() as bar:
        task = bar.add_task("gradient features", total=len(rows))
        for i, ex in enumerate(examples):
            ids = torch.tensor([ex["input_ids"]], device=device)
            labels = torch.tensor([ex["labels"]], device=device)
            model.zero_grad(set_to_none=True)
            model(input_ids=ids, labels=labels).loss.backward()   # mean over the answer tokens
            flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
            vec = project(flat, bucket, sign, dim)
            out[i] = (vec / vec.norm().clamp_min(1e-12)).cpu().numpy()
            bar.advance(task)
    return out, {"rows": len(rows), "lora_parameters": n_params, "dim": dim, "seed": seed,
                 "warmup": start or {}, "seconds": round(time.time() - started, 2)}
