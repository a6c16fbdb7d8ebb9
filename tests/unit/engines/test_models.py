"""Models as aliases, hub ids or local directories (harness.engines.models)."""
import pytest

from harness.engines.models import resolve


def test_model_paths_say_what_is_wrong(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"does not exist"):
        resolve("./no-such-model")
    (tmp_path / "models").mkdir()
    with pytest.raises(ValueError, match=r"models/gemma.*does not exist"):
        resolve("models/gemma")                         # a relative path, not a hub id while offline
    (tmp_path / "models" / "bare").mkdir()
    with pytest.raises(ValueError, match="has no config.json"):
        resolve("models/bare")
    (tmp_path / "models" / "bare" / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="has no tokenizer"):
        resolve("models/bare")
    (tmp_path / "models" / "bare" / "tokenizer.json").write_text("{}")
    assert resolve("models/bare") == str(tmp_path / "models" / "bare")
