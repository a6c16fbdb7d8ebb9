"""What a bench runs and the checks before its first stage (harness.schedule)."""
import pytest
from support.scripted import write_data, write_script

from harness.cli import main


def test_missing_data_is_refused_before_the_first_stage(tmp_path, capsys):
    data = write_data(tmp_path / "data")
    (data / "triviaqa" / "unfiltered_validation.jsonl").unlink()
    out = tmp_path / "out"
    rc = main(["bench", "--engine", "fake", "--model", write_script(tmp_path / "s.json"), "--methods", "init-refuse",
               "--tasks", "triviaqa", "--data-dir", str(data), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "unfiltered_validation.jsonl" in err and "lacks 1 file" in err
    assert not (out / "runs").exists()                  # nothing started
    rc = main(["bench", "--engine", "fake", "--model", "x.json", "--methods", "init-refuse", "--tasks", "triviaqa",
               "--data-dir", str(tmp_path / "nowhere"), "--out", str(out)])
    assert rc == 2 and "does not exist" in capsys.readouterr().err


def test_a_missing_engine_package_is_named_before_the_first_stage():
    from importlib.util import find_spec

    from harness.engines.registry import check_engine
    if find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    with pytest.raises(ValueError, match="needs the package 'vllm'"):
        check_engine("vllm")
