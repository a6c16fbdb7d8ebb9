"""Supervised fine-tuning (LoRA or full) on prompt/target rows with transformers.Trainer.

The loss covers only the answer tokens and the end-of-turn token; the prompt is templated exactly as
the inference engine templates it (HFEngine.apply_template), so a trained model is queried the way
it was trained. Heavy imports stay inside functions: `import harness.training.sft` is cheap.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Mapping, Sequence

from harness.run.config import SFTConfig
from harness.run.io import write_json
from harness.data.prompts import answer_text, render_chat
from harness.run.progress import trainer_callback

IGNORE = -100
MODES = ("lora", "full")


def check_rows(rows: Sequence[Mapping]) -> None:
    if not rows:
        raise ValueError("no training rows: SFT needs at least one {'prompt', 'target'} row")
    for number, row in enumerate(rows):
        missing = [key for key in ("prompt", "target") if key not in row]
        if missing:
            raise ValueError(f"training row {number} lacks {', '.join(map(repr, missing))} "
                             f"(has {', '.join(map(repr, row)) or 'no keys'})")


def build_examples(tokenizer, rows: Sequence[Mapping], max_length: int, prompt_style: str = "auto") -> list[dict]:
    """Token ids and labels (-100 on the prompt) for each row; the prompt is cut from the left.
    Prompts are rendered as the engines render them (prompts.render_chat, the same style)."""
    check_rows(rows)
    end = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    examples = []
    for number, row in enumerate(rows):
        prompt = tokenizer(render_chat(tokenizer, row["prompt"], prompt_style), add_special_tokens=False)["input_ids"]
        answer = tokenizer(answer_text(tokenizer, row["target"], prompt_style), add_special_tokens=False)["input_ids"] + end
        room = max_length - len(answer)
        if room < 1:
            raise ValueError(f"training row {number}: the target takes {len(answer)} tokens with its end "
                             f"token, leaving no room for the prompt within max_length={max_length}")
        prompt = prompt[-room:]
        examples.append({"input_ids": prompt + answer, "labels": [IGNORE] * len(prompt) + answer,
                         **({"weight": float(row["weight"])} if "weight" in row else {})})
    return examples


def pack(examples: list[dict], max_length: int, seed: int) -> list[dict]:
    """XTuner's pack_to_max_length: the examples, shuffled under the seed, concatenated and cut into
    sequences of max_length tokens (the last one shorter). Tokens attend across example boundaries
    within a sequence, as in XTuner without varlen attention; labels keep -100 on every prompt."""
    import random
    if any("weight" in ex for ex in examples):
        raise ValueError("weighted rows (GRAIT's loss weights) cannot be packed: a packed sequence mixes "
                         "rows; set packing: false in the domain's sft")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    ids = [t for i in order for t in examples[i]["input_ids"]]
    labels = [t for i in order for t in examples[i]["labels"]]
    return [{"input_ids": ids[k:k + max_length], "labels": labels[k:k + max_length]}
            for k in range(0, len(ids), max_length)]


class PadCollator:
    """Right-pads input_ids with the pad id and labels with -100; attention_mask marks real tokens."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, batch: Sequence[Mapping]) -> dict:
        import torch

        width = max(len(ex["input_ids"]) for ex in batch)
        ids, labels, mask = [], [], []
        for ex in batch:
            gap = width - len(ex["input_ids"])
            ids.append(list(ex["input_ids"]) + [self.pad_id] * gap)
            labels.append(list(ex["labels"]) + [IGNORE] * gap)
            mask.append([1] * len(ex["input_ids"]) + [0] * gap)
        out = {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}
        if any("weight" in ex for ex in batch):
            out["weights"] = torch.tensor([float(ex.get("weight", 1.0)) for ex in batch])
        return out


def answer_only_trainer():
    """transformers.Trainer whose loss projects onto the vocabulary only the positions that predict an
    answer token (`logits_to_keep` as a boolean mask). The loss is the same as the default causal-LM
    loss over labels != -100; memory is not: logits of every prompt position of a batch of long MMLU
    prompts (8 x 1,000 x 49,152 floats and their gradient) were most of the CPU SFT's 8 GB peak, and for
    an 8B model with a 128k vocabulary they are gigabytes per packed 2,048-token sequence."""
    import torch
    import torch.nn.functional as F
    from transformers import Trainer

    masked = masked_logits_supported()

    class AnswerOnlyTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            weights = inputs.pop("weights", None)
            keep = torch.zeros_like(labels, dtype=torch.bool)
            keep[:, :-1] = labels[:, 1:] != IGNORE
            if masked:
                outputs = model(**inputs, logits_to_keep=keep)
                logits = outputs.logits
            else:                                  # older transformers: every position's logits, then the mask
                outputs = model(**inputs)
                logits = outputs.logits[keep]
            target = labels[:, 1:][keep[:, :-1]]
            if weights is not None:
                loss = weighted_loss(logits, target, keep, weights, num_items_in_batch is not None, self.args)
                return (loss, outputs) if return_outputs else loss
            total = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), target, reduction="sum")
            if num_items_in_batch is None:         # the Trainer divides by the accumulation steps
                loss = total / max(1, target.numel())
            else:                                  # normalized over the whole accumulated batch
                loss = total / num_items_in_batch
                if self.args.average_tokens_across_devices:
                    loss = loss * self.accelerator.num_processes
            return (loss, outputs) if return_outputs else loss
    return AnswerOnlyTrainer


def weighted_loss(logits, target, keep, weights, accumulated: bool, args):
    """GRAIT's weighted loss (its XTuner `alpha * outputs.loss`): each row's mean answer-token loss
    times its weight, averaged over the rows of the global batch (`accumulated`: the Trainer passed the
    batch's size and divides by nothing; else by the accumulation steps itself)."""
    import torch
    import torch.nn.functional as F
    per_token = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), target, reduction="none")
    row_of = torch.arange(keep.shape[0], device=keep.device)[:, None].expand_as(keep)[keep]
    sums = torch.zeros(keep.shape[0], device=per_token.device).index_add_(0, row_of, per_token)
    counts = keep.sum(dim=1).clamp_min(1)
    per_row = sums / counts * weights.to(per_token.device)
    if accumulated:
        return per_row.sum() / (args.per_device_train_batch_size * args.gradient_accumulation_steps)
    return per_row.mean()


def masked_logits_supported() -> bool:
    """Whether the installed transformers takes a boolean mask as `logits_to_keep` (its
    `slice_logits_to_keep`, in 5.2x): transformers 5.17 (the GPU machines' image) indexes with it as
    positions and fails ("too many indices for tensor of dimension 3"), so there the loss projects
    every position and keeps the answer's afterwards (the same loss, more memory)."""
    import transformers.modeling_utils as mu
    return hasattr(mu, "slice_logits_to_keep")


# Activations of an 8B model at 4 x 2,048 tokens took 79 GiB of an H200 before the backward pass
# (ci/gpu_check.py): above this size, training on a GPU recomputes them (gradient checkpointing; the
# same loss, ~30% more time).
CHECKPOINTING_ABOVE = 1_000_000_000


def check_quantization(cfg: SFTConfig) -> None:
    """QLoRA needs a CUDA GPU and bitsandbytes: say so before anything loads."""
    if not cfg.load_in_4bit:
        return
    import importlib.util

    import torch
    if not torch.cuda.is_available():
        raise ValueError("sft load_in_4bit (QLoRA, the CRaFT code's MCQA LoRA) needs a CUDA GPU and "
                         "bitsandbytes; on this machine set `load_in_4bit: false` in the preset's sft "
                         "(e.g. `choice: {sft: {load_in_4bit: false}, rehearsal_sft: {load_in_4bit: false}}`)")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ValueError("sft load_in_4bit (QLoRA) needs bitsandbytes: pip install bitsandbytes")


def target_modules(cfg: SFTConfig):
    """peft's `all-linear` is a string, not a module name."""
    return "all-linear" if tuple(cfg.target_modules) == ("all-linear",) else list(cfg.target_modules)


def _load(base_model: str, cfg: SFTConfig, seed: int, dtype: str, trust_remote_code: bool):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base_model, trust_remote_code=trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    torch.manual_seed(seed)  # seeds the LoRA initialisation
    kwargs = {}
    if cfg.load_in_4bit:
        from transformers import BitsAndBytesConfig
        # XTuner's QLoRA: NF4 with double quantization; bf16 compute.
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(
        base_model, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code, **kwargs)
    model.config.use_cache = False
    if torch.cuda.is_available() and not cfg.load_in_4bit and \
            sum(p.numel() for p in model.parameters()) > CHECKPOINTING_ABOVE:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.mode == "lora":
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
        if cfg.load_in_4bit:
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
        lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                          target_modules=target_modules(cfg), task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)
    return tok, model


def _arguments(cfg: SFTConfig, checkpoints: Path, seed: int, bf16: bool = False):
    import torch
    from transformers import TrainingArguments

    if not 0 <= cfg.warmup_ratio < 1:
        raise ValueError(f"warmup_ratio must lie in [0, 1), got {cfg.warmup_ratio}")
    return TrainingArguments(
        output_dir=str(checkpoints),
        per_device_train_batch_size=per_device_batch(cfg.batch_size),
        gradient_accumulation_steps=cfg.grad_accum,
        num_train_epochs=cfg.epochs,
        learning_rate=cfg.lr,
        lr_scheduler_type="cosine",
        # transformers 5 dropped warmup_ratio: a float in [0, 1) here is a ratio of the total steps.
        warmup_steps=float(cfg.warmup_ratio),
        weight_decay=0.0,
        max_grad_norm=1.0,
        seed=seed,
        data_seed=seed,
        save_strategy="epoch",
        save_total_limit=1,
        logging_steps=10,
        report_to=[],
        disable_tqdm=True,                   # harness.run.progress shows a rich bar instead
        bf16=_bf16(bf16),
        use_cpu=not torch.cuda.is_available(),
        train_sampling_strategy="random" if cfg.packing else "group_by_length",
        remove_unused_columns=False,
    )


def per_device_batch(batch_size: int) -> int:
    """The configured batch is the global one: under N processes each takes batch_size / N, so a
    multi-GPU run trains with the same batch (and learning-rate schedule) as a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if batch_size % world:
        raise ValueError(f"SFT batch_size {batch_size} is not divisible by the {world} training "
                         f"processes; pick a process count that divides it")
    return batch_size // world


def _bf16(wanted: bool) -> bool:
    """bf16 autocast if asked and the hardware has it (CPUs do: ~1.6x faster LoRA steps here)."""
    import torch
    if not wanted:
        return False
    return not torch.cuda.is_available() or torch.cuda.is_bf16_supported()


def _has_checkpoint(checkpoints: Path) -> bool:
    return checkpoints.is_dir() and any(
        p.is_dir() and p.name.startswith("checkpoint-") for p in checkpoints.iterdir())


def _save(trainer, tok, mode: str, out_dir: Path) -> Path:
    """Save the adapter (lora) or model + tokenizer (full) to out_dir/model, atomically."""
    final, partial = out_dir / "model", out_dir / ".model.partial"
    if trainer.is_world_process_zero() and partial.exists():
        shutil.rmtree(partial)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(partial))  # every process: sharded (FSDP/DeepSpeed) saves gather here
    if trainer.is_world_process_zero():
        if mode == "full":
            tok.save_pretrained(str(partial))
        (partial / "training_args.bin").unlink(missing_ok=True)
        canonical_adapter_config(partial)
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
    return final


def canonical_adapter_config(model_dir: Path) -> None:
    """peft writes target_modules from a set, in an order that changes with the process's hash seed;
    sorted, the same training gives byte-identical files (stable fingerprints and cache keys)."""
    path = model_dir / "adapter_config.json"
    if not path.exists():
        return
    config = json.loads(path.read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
        write_json(path, config)


def train(base_model: str, rows: Sequence[Mapping], cfg: SFTConfig, out_dir: Path, seed: int = 0,
          dtype: str = "float32", trust_remote_code: bool = False, bf16: bool = False,
          prompt_style: str = "auto") -> dict:
    """Fine-tune base_model on rows; save to out_dir/model and report to out_dir/train.json.
    Weights stay in `dtype` (fp32 masters); `bf16` turns on mixed-precision autocast. Prompts are
    rendered in `prompt_style`, as the engines will ask the trained model."""
    if cfg.mode not in MODES:
        raise ValueError(f"unknown SFT mode {cfg.mode!r}; valid: {', '.join(MODES)}")
    check_rows(rows)
    check_quantization(cfg)
    start = time.time()
    out_dir = Path(out_dir)
    checkpoints = out_dir / "checkpoints"
    args = _arguments(cfg, checkpoints, seed, bf16)
    tok, model = _load(base_model, cfg, seed, dtype, trust_remote_code)
    examples = build_examples(tok, rows, cfg.max_length, prompt_style)
    sequences = pack(examples, cfg.max_length, seed) if cfg.packing else examples
    trainer = answer_only_trainer()(model=model, args=args, train_dataset=sequences,
                      data_collator=PadCollator(tok.pad_token_id), callbacks=[trainer_callback()])
    result = trainer.train(resume_from_checkpoint=True if _has_checkpoint(checkpoints) else None)
    final = _save(trainer, tok, cfg.mode, out_dir)
    report = {"mode": cfg.mode, "path": str(final), "examples": len(examples), "sequences": len(sequences),
              "steps": int(result.global_step), "train_loss": float(result.training_loss),
              "processes": int(args.world_size), "global_batch": cfg.batch_size * cfg.grad_accum,
              "gradient_checkpointing": bool(getattr(model, "is_gradient_checkpointing", False)),
              "seconds": round(time.time() - start, 3),
              "train_seconds": round(float(result.metrics.get("train_runtime", 0.0)), 3)}
    if trainer.is_world_process_zero():
        shutil.rmtree(checkpoints, ignore_errors=True)  # only now: the final model is in place
        write_json(out_dir / "train.json", report)
    trainer.accelerator.wait_for_everyone()
    return report
