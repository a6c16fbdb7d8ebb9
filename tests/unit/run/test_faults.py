"""Fault injection: each bad input gets its exact error (exit 2) and changes no finished artefact."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.scripted import write_data, write_script

from harness.cli import main
from harness.run.io import write_jsonl
from harness.run.stage import run_lock


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished bench (scripted engine) in OUT, shared by the module (every fault must leave it
    unchanged); returns OUT and a function running `harness bench` there."""
    root = tmp_path_factory.mktemp("faults")
    data_dir = write_data(root / "data")
    out = root / "out"
    model = write_script(root / "scripted.json")

    def bench(*extra: str, data_dir=data_dir) -> int:
        return main(["bench", "--methods", "init-refuse", "--tasks", "triviaqa", "--engine", "fake",
                     "--model", model, "--data-dir", str(data_dir), "--out", str(out), *extra])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "0")
        assert bench() == 0
        yield out, bench


def finished_run(out: Path) -> Path:
    """The run directory of the finished bench (OUT/runs also holds runs that faults left unfinished)."""
    return out / "runs" / json.loads((out / "leaderboard.json").read_text())[0]["run"]


def refused(capsys, bench, out, *args, match: str, **kw) -> None:
    before = snapshot(out)
    assert bench(*args, **kw) == 2
    err = capsys.readouterr().err
    assert match in err, err
    after = snapshot(out)
    assert {k: after.get(k) for k in before} == before, "a refused run changed a finished artefact"


def test_unknown_names(finished, capsys):
    out, bench = finished
    refused(capsys, bench, out, "--methods", "craftt", match="unknown method 'craftt'; valid: init-basic")
    refused(capsys, bench, out, "--tasks", "squad", match="unknown task 'squad'; valid: triviaqa, nq, mmlu, arc_c")
    refused(capsys, bench, out, "--preset", "huge", match="unknown preset 'huge'; valid: tiny, smoke, small, paper")


def test_unknown_model(finished, capsys, monkeypatch):
    out, bench = finished
    refused(capsys, bench, out, "--engine", "hf", "--model", "no-such-model", match="unknown model 'no-such-model'")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    refused(capsys, bench, out, "--engine", "hf", "--model", "org/never-downloaded",
            match="is a hub id but HF_HUB_OFFLINE is set")
    refused(capsys, bench, out, "--engine", "tgi", match="unknown engine 'tgi'; valid: hf, vllm, fake")
    refused(capsys, bench, out, "--methods", "craft", match="--engine fake has no model to train, but these methods train one: craft;")


@pytest.mark.parametrize("text, match", [
    ("open: {pool_size: -5}", "DomainConfig.pool_size must be a positive integer, got -5"),
    ("open: {tau_lo: 0.2, tau_hi: 1.5}", "thresholds must satisfy 0 <= tau_lo <= tau_hi <= 1"),
    ("open: {query_answer: all}", "DomainConfig.query_answer must be one of whole, first_line, got 'all'"),
    ("scoring: {refusal: lenient}", "Scoring.refusal must be one of code, broad, got 'lenient'"),
    ("choice: {sft: {mode: full, load_in_4bit: true}}", "load_in_4bit (QLoRA) needs mode 'lora'"),
    ("n_test: 0", "Preset.n_test must be a positive integer, got 0"),
    ("open: {sft: {lr: -1}}", "sft lr must be positive"),
    ("open: {pool_sise: 10}", "unknown key 'open.pool_sise'; valid: pool_dataset"),
    ("open: {sft: {epochs: three}}", "open.sft.epochs must be int, got 'three'"),
    ("open: {pool_size: [1, 2}", "malformed YAML at line 1"),
    ("- just\n- a list", "expected a mapping of preset fields"),
    ("base: huge", "unknown preset 'huge'"),
    ("!!python/object/apply:os.system ['touch PWNED']", "malformed YAML"),
])
def test_bad_preset_files(finished, capsys, tmp_path, text, match):
    out, bench = finished
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent(text) + "\n")
    refused(capsys, bench, out, "--preset", str(bad), match=match)
    assert not Path("PWNED").exists() and not (tmp_path / "PWNED").exists()   # safe loader: no code runs


def test_good_preset_file_is_its_own_run(finished, tmp_path):
    out, bench = finished
    good = tmp_path / "mine.yaml"
    good.write_text("base: smoke\nn_test: 3\nopen: {pool_size: 100, sft: {epochs: 1}}\n")
    from harness.run.presets import preset
    p = preset(str(good))
    assert (p.name, p.n_test, p.open.pool_size, p.open.sft.epochs, p.choice.pool_size) == ("mine", 3, 100, 1, 150)
    assert bench("--preset", str(good), "--out", str(tmp_path / "mine")) == 0
    assert len(list((tmp_path / "mine" / "runs").iterdir())) == 1


def test_bad_numbers_on_the_command_line(finished, capsys):
    out, bench = finished
    refused(capsys, bench, out, "--limit", "-3", match="--limit must be positive, got -3")


def test_malformed_data_line(finished, capsys, tmp_path):
    out, bench = finished
    broken = write_data(tmp_path / "broken")
    with open(broken / "triviaqa" / "unfiltered_validation.jsonl", "a") as f:
        f.write('{"question": "cut off\n')
    refused(capsys, bench, out, "--limit", "2", "--overwrite", data_dir=broken,
            match=f"{broken / 'triviaqa' / 'unfiltered_validation.jsonl'}: line 5 is not valid JSON")


def test_dataset_missing_offline(finished, capsys, tmp_path):
    out, bench = finished
    refused(capsys, bench, out, "--tasks", "nq", match=f"lacks 1 file(s) this run reads: {out.parent / 'data' / 'nq_open' / 'validation.jsonl'}")


def test_knowledge_table_missing_columns(tmp_path, capsys):
    write_jsonl(tmp_path / "k.jsonl", [{"id": "a", "correctness": 0.5, "certainty": 0.1}])
    assert main(["construct", "--method", "craft", "--knowledge", str(tmp_path / "k.jsonl"),
                 "--n-van", "1", "--n-idk", "1", "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "correctness_rehearsal" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


def test_output_dir_of_a_different_config(finished, capsys):
    out, bench = finished
    refused(capsys, bench, out, "--seed", "1",
            match="is the leaderboard of run")
    err_hint = "--overwrite"
    assert bench("--seed", "1") == 2 and err_hint in capsys.readouterr().err
    # a run directory whose recorded config was edited is refused too, and left as it is
    run = finished_run(out)
    original = (run / "config.json").read_text()
    (run / "config.json").write_text(original.replace('"seed": 0', '"seed": 7'))
    try:
        refused(capsys, bench, out, match="belongs to a different config")
    finally:
        (run / "config.json").write_text(original)


def test_concurrent_run_is_locked_out(finished, capsys):
    out, bench = finished
    run = finished_run(out)
    with run_lock(run):
        refused(capsys, bench, out, match=f"another harness process (pid {os.getpid()}) is running in {run}")


def test_lock_held_by_another_process(finished, capsys):
    out, bench = finished
    run = finished_run(out)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from harness.run.stage import run_lock
        with run_lock(Path({str(run)!r})):
            print("locked", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        refused(capsys, bench, out, match=f"(pid {holder.pid})")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert bench() == 0                       # a killed holder releases the lock with its process


def test_outputs_stay_in_the_output_directory(tmp_path, data, script, monkeypatch):  # noqa: F811
    """Nothing is written outside --out (the working directory included)."""
    monkeypatch.chdir(tmp_path)
    before = {p for p in tmp_path.rglob("*")}
    assert main(["bench", "--methods", "init-refuse", "--tasks", "triviaqa", "--engine", "fake", "--model", script,
                 "--data-dir", str(data), "--out", str(tmp_path / "out")]) == 0
    created = {p for p in tmp_path.rglob("*")} - before
    assert created and all(p.is_relative_to(tmp_path / "out") for p in created)


def test_no_network_when_offline(finished, monkeypatch, capsys):
    """With HF_HUB_OFFLINE set, nothing opens a socket: a hub model id is refused up front."""
    import socket
    out, bench = finished

    def no_network(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    refused(capsys, bench, out, "--engine", "hf", "--model", "org/some-model", "--overwrite",
            match="HF_HUB_OFFLINE is set")
    from harness.data.load import load_rows
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE is set"):
        load_rows("triviaqa", "validation", None)


def test_trust_remote_code_is_off_by_default():
    from harness.cli import parser
    from harness.engines.protocol import EngineSpec
    from harness.run.config import RunConfig
    from harness.run.presets import PRESETS
    assert RunConfig(model="m", preset=PRESETS["smoke"]).trust_remote_code is False
    assert EngineSpec(model="m").trust_remote_code is False
    assert parser().parse_args(["bench"]).trust_remote_code is False
