import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ.get("HARNESS_DATA_DIR", SHARED_DATA))
    if not (path / "triviaqa" / "validation.jsonl").exists():
        pytest.skip(f"real data not found at {path}; set HARNESS_DATA_DIR")
    return path


@pytest.fixture(scope="session")
def base() -> str:
    """The default tiny model's local directory (`make test` prepares it first; a failure here is real)."""
    from harness.engines.models import DEFAULT_MODEL, resolve
    return resolve(DEFAULT_MODEL)
