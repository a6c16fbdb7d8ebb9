"""Content-addressed store of trained models: OUT/cache/sft/<key>/{model/, train.json, DONE}.

The key covers everything that changes the trained weights (base model by content or hub id, SFT
settings, the training rows, seed, mixed precision, harness version) and nothing else, so runs that
differ only in what they evaluate (`--limit`, tasks, methods) train each dataset once. Entries are
built under a temporary name and renamed, DONE inside, so a killed store leaves no half entry. DONE
records the fingerprint of every file (as a stage's DONE does); an entry whose files no longer match
is reported and retrained, never restored.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from rich.console import Console

from harness import __version__
from harness.run.fingerprint import digest, model_id
from harness.run.io import write_json

console = Console(stderr=True)


def key(base_model: str, sft, rows: list[dict], seed: int, bf16: bool, prompt_style: str = "auto",
        extra: dict | None = None) -> str:
    """`extra`: what else decides the weights (a preference stage's DPO settings and start model).
    A row's `rejected` and `weight` count where present."""
    def row(r: dict) -> list:
        return [r["prompt"], r["target"]] + [r[k] for k in ("rejected", "weight") if k in r]
    entry = {"harness": __version__, "base": model_id(base_model), "sft": dataclasses.asdict(sft),
             "rows": [row(r) for r in rows], "seed": seed, "bf16": bf16}
    if prompt_style != "auto":               # absent for auto: entries stored before the option stay valid
        entry["prompt_style"] = prompt_style
    if extra:
        entry["extra"] = extra
    blob = json.dumps(entry, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _copy(src: Path, dst: Path) -> None:
    """Hard links where the filesystem allows (full models are gigabytes), else copies."""
    def link(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)
    shutil.copytree(src, dst, copy_function=link)


def _intact(stored: Path) -> bool:
    """DONE exists and every file matches the fingerprint it recorded."""
    if not (stored / "DONE").exists():
        return False
    try:
        recorded = json.loads((stored / "DONE").read_text())
    except json.JSONDecodeError:
        recorded = None
    if recorded != digest(stored):
        console.print(f"[yellow]trained-model store entry {stored} does not match its DONE record; "
                      f"training again[/yellow]", soft_wrap=True)
        return False
    return True


def restore(cache_dir: Path, entry: str, stage_dir: Path) -> bool:
    stored = cache_dir / "sft" / entry
    if not _intact(stored):
        return False
    if (stage_dir / "model").exists():
        shutil.rmtree(stage_dir / "model")
    _copy(stored / "model", stage_dir / "model")
    report = json.loads((stored / "train.json").read_text())
    report.update(path=str(stage_dir / "model"), reused=entry)
    write_json(stage_dir / "train.json", report)
    return True


def store(cache_dir: Path, entry: str, stage_dir: Path) -> None:
    target = cache_dir / "sft" / entry
    if _intact(target):
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{entry}."))
    _copy(stage_dir / "model", tmp / "model")
    shutil.copy2(stage_dir / "train.json", tmp / "train.json")
    (tmp / "DONE").write_text(json.dumps(digest(tmp)))
    if target.exists() and not _intact(target):
        shutil.rmtree(target, ignore_errors=True)      # corrupt: an entry appears whole or not at all
    try:
        os.replace(tmp, target)
    except OSError:                        # another process stored the same entry meanwhile: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
