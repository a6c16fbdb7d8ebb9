"""Preference training (DPO with an SFT term) with TRL's DPOTrainer, on prompt/chosen/rejected rows.

Idk-DPO (Cheng et al., ICML 2024) trains the Idk-SFT model with DPO, beta 0.1, plus the chosen answer's
negative log-likelihood weighted 0.01 (their `sft_coef_when_dpo`; in TRL < 1.0 `rpo_alpha`, in TRL 1.x
the loss pair `loss_type=["sigmoid", "sft"]` with `loss_weights=[1, 0.01]`: TRL's "sft" loss is the
mean token NLL of the chosen completions). The starting model (a LoRA adapter on the base, merged, or
a full model directory) is also the reference: with LoRA, TRL's reference is the same weights with the
new adapter disabled. Prompts are rendered as the engines render them (prompts.render_chat) and the
completions as training targets are (answer_text, then the end token), so the model is asked as it was
taught. The result is saved as a full model (the new adapter merged), since its base is no longer the
run's base model. Heavy imports stay inside functions.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from harness.run.config import SFTConfig
from harness.run.io import write_json
from harness.data.prompts import answer_text, render_chat
from harness.run.progress import trainer_callback


@dataclass(frozen=True)
class Preference:
    beta: float = 0.1                 # DPO's deviation from the reference
    sft_weight: float = 0.01          # the chosen answer's NLL beside the DPO loss (0: plain DPO)

    def __post_init__(self):
        if not self.beta > 0:
            raise ValueError(f"DPO beta must be positive, got {self.beta}")
        if self.sft_weight < 0:
            raise ValueError(f"DPO sft_weight must not be negative, got {self.sft_weight}")


def check_pairs(rows: Sequence[Mapping]) -> None:
    if not rows:
        raise ValueError("no preference rows: DPO needs at least one {'prompt', 'target', 'rejected'} row")
    for number, row in enumerate(rows):
        missing = [k for k in ("prompt", "target", "rejected") if k not in row]
        if missing:
            raise ValueError(f"preference row {number} lacks {', '.join(map(repr, missing))}")
        if row["target"] == row["rejected"]:
            raise ValueError(f"preference row {number}: chosen and rejected are the same text {row['target']!r}")


def load_start(base_model: str, start: dict, dtype: str, trust_remote_code: bool):
    """The tokenizer and the model DPO starts from: the base, a full model (start["model"]) or the base
    with a LoRA adapter (start["adapter"]) merged into it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    path = start.get("model", base_model)
    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code)
    if start.get("adapter"):
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, start["adapter"]).merge_and_unload()
    model.config.use_cache = False
    return tok, model


def dataset(tok, rows: Sequence[Mapping], prompt_style: str):
    from datasets import Dataset
    return Dataset.from_list([{"prompt": render_chat(tok, r["prompt"], prompt_style),
                               "chosen": answer_text(tok, r["target"], prompt_style),
                               "rejected": answer_text(tok, r["rejected"], prompt_style)} for r in rows])


def arguments(cfg: SFTConfig, pref: Preference, checkpoints: Path, seed: int, bf16: bool):
    import torch
    from trl import DPOConfig

    from harness.training.sft import _bf16, per_device_batch
    return DPOConfig(
        output_dir=str(checkpoints), beta=pref.beta,
        loss_type=["sigmoid", "sft"] if pref.sft_weight else ["sigmoid"],
        loss_weights=[1.0, pref.sft_weight] if pref.sft_weight else None,
        per_device_train_batch_size=per_device_batch(cfg.batch_size), gradient_accumulation_steps=cfg.grad_accum,
        num_train_epochs=cfg.epochs, learning_rate=cfg.lr, lr_scheduler_type="cosine",
        warmup_steps=float(cfg.warmup_ratio), weight_decay=0.0, max_grad_norm=1.0, seed=seed, data_seed=seed,
        max_length=cfg.max_length, save_strategy="epoch", save_total_limit=1, logging_steps=10, report_to=[],
        disable_tqdm=True, bf16=_bf16(bf16), use_cpu=not torch.cuda.is_available(), remove_unused_columns=False,
        dataset_num_proc=None)


def train(base_model: str, rows: Sequence[Mapping], cfg: SFTConfig, pref: Preference, out_dir: Path,
          start: dict | None = None, seed: int = 0, dtype: str = "float32", trust_remote_code: bool = False,
          bf16: bool = False, prompt_style: str = "auto") -> dict:
    """DPO from `start` (engine arguments of the model to improve: {} the base, {"adapter": dir},
    {"model": dir}) on rows {prompt, target (chosen), rejected}; LoRA (cfg.mode) or full. Saves a full
    model to out_dir/model and reports to out_dir/train.json; resumes from a checkpoint of a killed run."""
    from transformers.trainer_utils import get_last_checkpoint
    from trl import DPOTrainer

    from harness.training.sft import MODES, _has_checkpoint, canonical_adapter_config, target_modules
    if cfg.mode not in MODES:
        raise ValueError(f"unknown training mode {cfg.mode!r}; valid: {', '.join(MODES)}")
    if cfg.load_in_4bit:
        raise ValueError("DPO here takes no 4-bit base (the merged start model is trained in its dtype); "
                         "set load_in_4bit: false in the domain's sft")
    check_pairs(rows)
    started = time.time()
    out_dir = Path(out_dir)
    checkpoints = out_dir / "checkpoints"
    import torch
    torch.manual_seed(seed)                # the new LoRA's initialisation
    tok, model = load_start(base_model, start or {}, dtype, trust_remote_code)
    peft_config = None
    if cfg.mode == "lora":
        from peft import LoraConfig
        peft_config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                 target_modules=target_modules(cfg), task_type="CAUSAL_LM")
    args = arguments(cfg, pref, checkpoints, seed, bf16)
    trainer = DPOTrainer(model=model, ref_model=None, args=args, train_dataset=dataset(tok, rows, prompt_style),
                         processing_class=tok, peft_config=peft_config, callbacks=[trainer_callback()])
    resume = get_last_checkpoint(str(checkpoints)) if _has_checkpoint(checkpoints) else None
    result = trainer.train(resume_from_checkpoint=resume)
    final, partial = out_dir / "model", out_dir / ".model.partial"
    if trainer.is_world_process_zero():
        shutil.rmtree(partial, ignore_errors=True)
        trained = trainer.model.merge_and_unload() if cfg.mode == "lora" else trainer.model
        trained.save_pretrained(str(partial))
        tok.save_pretrained(str(partial))
        canonical_adapter_config(partial)
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
    report = {"mode": "full", "trained": cfg.mode, "objective": "dpo", "beta": pref.beta,
              "sft_weight": pref.sft_weight, "start": start or {}, "path": str(final), "pairs": len(rows),
              "steps": int(result.global_step), "train_loss": float(result.training_loss),
              "processes": int(args.world_size), "global_batch": cfg.batch_size * cfg.grad_accum,
              "seconds": round(time.time() - started, 3),
              "train_seconds": round(float(result.metrics.get("train_runtime", 0.0)), 3)}
    if trainer.is_world_process_zero():
        shutil.rmtree(checkpoints, ignore_errors=True)
        write_json(out_dir / "train.json", report)
    trainer.accelerator.wait_for_everyone()
    return report
