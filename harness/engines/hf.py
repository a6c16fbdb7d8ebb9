"""Hugging Face transformers engine: batched, length-bucketed, CPU or CUDA, optional LoRA adapter."""
from __future__ import annotations

from typing import Sequence

import torch

from harness.engines import EngineSpec
from harness.progress import progress as _progress
from harness.prompts import render_chat


def pick_device(device: str) -> str:
    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(spec: EngineSpec, dtype: torch.dtype, device: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(spec.model, trust_remote_code=spec.trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(
        spec.model, dtype=dtype, trust_remote_code=spec.trust_remote_code)
    if spec.adapter:
        from peft import PeftModel
        # Merged weights generate as fast as the base model.
        model = PeftModel.from_pretrained(model, spec.adapter).merge_and_unload()
    return tok, model.to(device).eval()


class HFEngine:
    def __init__(self, spec: EngineSpec):
        self.spec = spec
        self.device = pick_device(spec.device)
        dtype = getattr(torch, spec.dtype)
        self.tok, self.model = load_model(spec, dtype, self.device)
        self.tok.padding_side = "left"
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token

    def apply_template(self, user: str | list[dict]) -> str:
        return render_chat(self.tok, user)

    def _batches(self, prompts: Sequence[str], size: int):
        # Longest first: similar lengths share a batch (less padding) and memory peaks early.
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        for start in range(0, len(order), size):
            yield order[start:start + size]

    def _encode(self, texts: list[str]):
        enc = self.tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        return {k: v.to(self.device) for k, v in enc.items()}

    @torch.inference_mode()
    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0,
                 max_new_tokens: int = 32, seed: int = 0, desc: str = "generate") -> list[list[str]]:
        out: list[list[str]] = [[] for _ in prompts]
        per_batch = max(1, self.spec.batch_size // n)
        sampling = dict(do_sample=True, temperature=temperature, top_p=1.0, top_k=0) \
            if temperature > 0 else dict(do_sample=False, temperature=None, top_p=None, top_k=None)
        with _progress() as bar:
            task = bar.add_task(desc, total=len(prompts))
            for number, idx in enumerate(self._batches(prompts, per_batch)):
                torch.manual_seed(seed * 1_000_003 + number)
                enc = self._encode([prompts[i] for i in idx])
                gen = self.model.generate(
                    **enc, max_new_tokens=max_new_tokens, num_return_sequences=n,
                    pad_token_id=self.tok.pad_token_id, **sampling)
                texts = self.tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
                for j, i in enumerate(idx):
                    out[i] = texts[j * n:(j + 1) * n]
                bar.advance(task, len(idx))
        return out

    @torch.inference_mode()
    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str],
                        desc: str = "score options") -> list[list[float]]:
        ids = [self.tok.encode(o, add_special_tokens=False)[0] for o in options]
        out: list[list[float]] = [[] for _ in prompts]
        with _progress() as bar:
            task = bar.add_task(desc, total=len(prompts))
            for idx in self._batches(prompts, self.spec.batch_size):
                # Only the last position's logits: the full [batch, seq, vocab] tensor is gigabytes.
                logits = self.model(**self._encode([prompts[i] for i in idx]), logits_to_keep=1).logits[:, -1, :]
                logp = torch.log_softmax(logits.float(), dim=-1)[:, ids]
                for j, i in enumerate(idx):
                    out[i] = logp[j].tolist()
                bar.advance(task, len(idx))
        return out

    @torch.inference_mode()
    def hidden_states(self, prompts: Sequence[str]) -> list[list[float]]:
        """Mean of the last hidden layer over each prompt's tokens (CRSS question representation)."""
        out: list[list[float]] = [[] for _ in prompts]
        for idx in self._batches(prompts, self.spec.batch_size):
            enc = self._encode([prompts[i] for i in idx])
            last = self.model(**enc, output_hidden_states=True).hidden_states[-1].float()
            mask = enc["attention_mask"].unsqueeze(-1).float()
            mean = (last * mask).sum(1) / mask.sum(1)
            for j, i in enumerate(idx):
                out[i] = mean[j].tolist()
        return out
