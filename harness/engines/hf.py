"""Hugging Face transformers engine: batched, length-bucketed, CPU or CUDA, optional LoRA adapter."""
from __future__ import annotations

from typing import Sequence

import torch
from transformers import LogitsProcessorList

from harness.engines.protocol import EngineSpec
from harness.engines.gencache import sample_seed
from harness.run.progress import over_batches
from harness.data.prompts import render_chat


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
    if device == "cpu":
        # Measured here (torch 2.13 CPU, bf16): a model whose parameters do not require grad (what
        # peft's merge leaves) generated 30% slower and peaked at 2.5 GB instead of 0.9 GB on 64
        # TriviaQA prompts; with requires_grad the same weights take the fast path. Inference mode
        # records no graph either way.
        model.requires_grad_(True)
    return tok, model.to(device).eval()


def shared_prefill(model, ids: torch.Tensor, mask: torch.Tensor, n: int):
    """KV cache of all prompt tokens but the last, computed once and repeated n times per row
    (generate feeds the last token itself). Positions as generate computes them under left padding."""
    from transformers import DynamicCache
    cache = DynamicCache(config=model.config)
    pos = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
    model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=pos[:, :-1],
          use_cache=True, logits_to_keep=1, **{cache_argument(model): cache})
    cache.batch_repeat_interleave(n)
    return cache


def cache_argument(model) -> str:
    """transformers >= 5.2x calls the KV cache argument `cache` (`past_key_values` is deprecated)."""
    import inspect
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


class SeededSampler:
    """Exact sampling from softmax(logits / T), one generator per row, as a logits processor for
    greedy search: it leaves only the drawn token possible. Row r's draws come from its own seed,
    so a sample does not depend on the other rows of its batch (HF's do_sample draws from one
    global generator, which ties every answer to the batch composition)."""

    def __init__(self, seeds: list[int], temperature: float, prompt_len: int, max_new_tokens: int):
        self.temperature = temperature
        self.prompt_len = prompt_len
        self.uniform = torch.stack([torch.rand(max_new_tokens, generator=torch.Generator().manual_seed(s),
                                               dtype=torch.float64) for s in seeds])

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        step = input_ids.shape[1] - self.prompt_len
        probs = torch.softmax(scores.double() / self.temperature, dim=-1)
        cdf = probs.cumsum(-1)
        if self.uniform.device != cdf.device:
            self.uniform = self.uniform.to(cdf.device)     # once: the draws live where the logits do
        u = self.uniform[:, step:step + 1] * cdf[:, -1:]
        token = torch.searchsorted(cdf, u).clamp(max=scores.shape[-1] - 1)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, token, 0.0)


TOKENS_PER_ROW = 256     # token budget of a batch: batch_size x this (see HFEngine._batches)


class HFEngine:
    def __init__(self, spec: EngineSpec):
        self.spec = spec
        self.device = pick_device(spec.device)
        dtype = getattr(torch, spec.dtype)
        self.tok, self.model = load_model(spec, dtype, self.device)
        self.tok.padding_side = "left"
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token

    def close(self) -> None:
        pass                                 # the weights go with the engine object

    def apply_template(self, user: str | list[dict]) -> str:
        return render_chat(self.tok, user, self.spec.prompt_style)

    def _batches(self, prompts: Sequence[str], size: int, n: int = 1):
        """Longest first: similar lengths share a batch (less padding) and memory peaks early. A batch
        holds at most `size` prompts and at most TOKENS_PER_ROW x batch_size tokens (prompt tokens x n
        rows): the prefill's attention grows with rows x length^2, and a batch of 32 long MMLU prompts
        took gigabytes on CPU. Depends only on the prompts, so a resumed run batches the same way."""
        lengths = [len(ids) for ids in self.tok(list(prompts), add_special_tokens=False)["input_ids"]] \
            if prompts else []
        budget = self.spec.batch_size * TOKENS_PER_ROW
        order = sorted(range(len(prompts)), key=lambda i: (-lengths[i], -len(prompts[i])))
        batch: list[int] = []
        for i in order:
            longest = lengths[batch[0]] if batch else lengths[i]
            if batch and (len(batch) >= size or (len(batch) + 1) * n * longest > budget):
                yield batch
                batch = []
            batch.append(i)
        if batch:
            yield batch

    def _encode(self, texts: list[str]):
        enc = self.tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        return {k: v.to(self.device) for k, v in enc.items()}

    def batches(self, prompts: Sequence[str], n: int = 1):
        return self._batches(prompts, max(1, self.spec.batch_size // n), n)

    @torch.inference_mode()
    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0,
                 max_new_tokens: int = 32, seed: int = 0, desc: str | None = "generate",
                 stop: Sequence[str] = ()) -> list[list[str]]:
        """n completions per prompt. Sample k of a prompt is drawn with its own generator, seeded
        from (seed, prompt, k), so it is the same whichever batch it lands in."""
        greedy = temperature <= 0
        rows = 1 if greedy else n            # the n greedy completions are one
        out: list[list[str]] = [[] for _ in prompts]
        for idx in over_batches(self.batches(prompts, rows), len(prompts), desc):
            texts = self._generate_batch([prompts[i] for i in idx], rows, temperature, max_new_tokens, seed, stop)
            for j, i in enumerate(idx):
                out[i] = texts[j * rows:(j + 1) * rows]
        return [o * n if greedy else o for o in out]

    def _generate_batch(self, prompts: list[str], n: int, temperature: float, max_new_tokens: int,
                        seed: int, stop: Sequence[str] = ()) -> list[str]:
        enc = self._encode(prompts)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        kwargs = dict(max_new_tokens=max_new_tokens, pad_token_id=self.tok.pad_token_id,
                      do_sample=False, temperature=None, top_p=None, top_k=None)
        if stop:
            # Each sequence ends at its stop string (transformers' StopStringCriteria); the batch
            # runs until its last sequence ends, no longer to the full token budget.
            kwargs.update(stop_strings=list(stop), tokenizer=self.tok)
        if temperature > 0:
            seeds = [sample_seed(seed, p, k) for p in prompts for k in range(n)]
            kwargs["logits_processor"] = LogitsProcessorList(
                [SeededSampler(seeds, temperature, ids.shape[1], max_new_tokens)])
        if n > 1 and ids.shape[1] > 1:
            # One prompt encoding for the n samples: prefill once, then copy the KV cache n times.
            cache = shared_prefill(self.model, ids, mask, n)
            ids, mask = ids.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)
            kwargs[cache_argument(self.model)] = cache
        gen = self.model.generate(input_ids=ids, attention_mask=mask, **kwargs)
        return self.tok.batch_decode(gen[:, ids.shape[1]:], skip_special_tokens=True)

    @torch.inference_mode()
    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str],
                        desc: str | None = "score options") -> list[list[float]]:
        ids = [self.tok.encode(o, add_special_tokens=False)[0] for o in options]
        out: list[list[float]] = [[] for _ in prompts]
        for idx in over_batches(self.batches(prompts), len(prompts), desc):
            # Only the last position's logits: the full [batch, seq, vocab] tensor is gigabytes.
            logits = self.model(**self._encode([prompts[i] for i in idx]), logits_to_keep=1).logits[:, -1, :]
            for i, row in zip(idx, torch.log_softmax(logits.float(), dim=-1)[:, ids].tolist()):
                out[i] = row
        return out

    @torch.inference_mode()
    def continuation_logprobs(self, prompts: Sequence[str], continuations: Sequence[str],
                              desc: str | None = "score continuations") -> list[list[float]]:
        first = [self.tok.encode(p, add_special_tokens=False) for p in prompts]
        rest = [self.tok.encode(c, add_special_tokens=False) for c in continuations]
        out: list[list[float]] = [[] for _ in prompts]
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        for idx in over_batches(self.batches(prompts), len(prompts), desc):
            seqs = [first[i] + rest[i] for i in idx]
            width = max(len(s) for s in seqs)
            ids = torch.tensor([[pad] * (width - len(s)) + s for s in seqs], device=self.device)
            mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=self.device)
            pos = (mask.cumsum(-1) - 1).clamp_min(0)
            # Only the positions that predict a continuation token (the end, left padding aligning it):
            # the logits of a whole 5-shot prompt are [batch, seq, vocab], gigabytes.
            keep = max(len(rest[i]) for i in idx) + 1
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=keep).logits
            for row, i in enumerate(idx):
                n = len(rest[i])
                if n == 0:
                    continue
                # the token at position t is predicted by the logits at t - 1: kept index keep - 1 is the last
                lp = torch.log_softmax(logits[row, keep - n - 1:keep - 1].float(), dim=-1)
                out[i] = lp.gather(-1, torch.tensor(rest[i], device=self.device)[:, None]).squeeze(-1).tolist()
        return out

    @torch.inference_mode()
    def hidden_states(self, prompts: Sequence[str]) -> list[list[float]]:
        """Mean of the last hidden layer over each prompt's tokens (CRSS question representation)."""
        out: list[list[float]] = [[] for _ in prompts]
        for idx in self.batches(prompts):
            enc = self._encode([prompts[i] for i in idx])
            last = self.model(**enc, output_hidden_states=True).hidden_states[-1].float()
            mask = enc["attention_mask"].unsqueeze(-1).float()
            mean = (last * mask).sum(1) / mask.sum(1)
            for j, i in enumerate(idx):
                out[i] = mean[j].tolist()
        return out


def load(spec: EngineSpec) -> HFEngine:
    return HFEngine(spec)
