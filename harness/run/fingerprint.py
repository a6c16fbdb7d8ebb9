"""Content fingerprints of files, stage folders and model directories: what DONE markers, the
generation cache and the trained-model store compare."""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

BIG = 64 << 20      # files above this are fingerprinted by size and their first and last 4 MiB
WEIGHTS = {".json", ".safetensors", ".bin", ".model", ".txt", ".jinja"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(path: Path) -> str:
    h = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size <= BIG:
            h.update(f.read())
        else:
            h.update(f.read(4 << 20))
            f.seek(-(4 << 20), os.SEEK_END)
            h.update(f.read())
    return f"{size}:{h.hexdigest()}"


def digest(stage_dir: Path) -> dict[str, str]:
    """Every file of a stage folder but its DONE marker, by content."""
    return {str(p.relative_to(stage_dir)): fingerprint(p) for p in sorted(stage_dir.rglob("*"))
            if p.is_file() and p.name != "DONE"}


@lru_cache(maxsize=64)
def _cached(path: Path, stat: tuple) -> str:
    return fingerprint(path)                 # size plus content (head and tail of big files)


def _dir_fingerprint(root: Path) -> str:
    files = [p for p in sorted(root.rglob("*")) if p.is_file() and p.suffix in WEIGHTS]
    return sha("\n".join(f"{p.relative_to(root)}={_cached(p, (p.stat().st_size, p.stat().st_mtime_ns))}"
                         for p in files))


def model_id(name: str | None) -> str | None:
    """A local directory by its content (so a retrained adapter never hits old answers); a hub id
    by its name (the hub revision is what `from_pretrained` resolves it to)."""
    if not name:
        return None
    path = Path(name)
    if path.is_dir():
        return "dir:" + _dir_fingerprint(path.resolve())
    return "hub:" + name
