"""Where the harness keeps things: caches and data, all overridable by environment variables."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Dequantized models and other reusable artefacts (HARNESS_CACHE, default ~/.cache/harness)."""
    return Path(os.environ.get("HARNESS_CACHE", Path.home() / ".cache" / "harness")).expanduser()


def data_dir(given: str | os.PathLike | None = None) -> Path | None:
    """The offline data directory: --data-dir, else HARNESS_DATA_DIR, else None (the hub)."""
    value = given or os.environ.get("HARNESS_DATA_DIR")
    return Path(value).expanduser().resolve() if value else None
