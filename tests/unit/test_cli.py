import json

import pytest

from harness.cli import main
from harness.engines.models import resolve
from harness.run.io import write_jsonl


def test_unknown_names_list_the_valid_ones(capsys):
    assert main(["bench", "--methods", "craft,magic", "--tasks", "mmlu"]) == 2
    assert "unknown method 'magic'" in capsys.readouterr().err
    assert main(["bench", "--methods", "craft", "--tasks", "squad"]) == 2
    assert "triviaqa, nq, mmlu, arc_c" in capsys.readouterr().err
    assert main(["bench", "--preset", "giant"]) == 2
    assert "tiny, smoke, small, paper" in capsys.readouterr().err


def test_ls_lists_everything(capsys):
    assert main(["ls"]) == 0
    out = capsys.readouterr().out
    for name in ["craft", "corcer-rait", "van-tuning", "triviaqa", "arc_c", "smoke", "paper", "smollm2-135m"]:
        assert name in out


def test_construct_command_writes_labels_in_selection_order(tmp_path, capsys):
    table = [{"id": "k1", "correctness": 1.0, "certainty": 0.2, "correctness_rehearsal": 1.0},
             {"id": "k2", "correctness": 0.8, "certainty": 0.9, "correctness_rehearsal": 0.9},
             {"id": "u1", "correctness": 0.1, "certainty": 0.5, "correctness_rehearsal": 0.0},
             {"id": "u2", "correctness": 0.0, "certainty": 0.1, "correctness_rehearsal": 0.0},
             {"id": "u3", "correctness": 0.2, "certainty": 0.0, "correctness_rehearsal": 0.5}]
    write_jsonl(tmp_path / "k.jsonl", table)
    out = tmp_path / "sel.jsonl"
    assert main(["construct", "--method", "craft", "--knowledge", str(tmp_path / "k.jsonl"),
                 "--n-van", "1", "--n-idk", "2", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    # vanilla: most certain known (k2); idk: flow < 0 only (u1), u2 has flow 0 and u3 gains
    assert rows == [{"id": "k2", "label": "vanilla"}, {"id": "u1", "label": "idk"}]
    assert '"idk": 1' in capsys.readouterr().out          # shortfall of one idk reported
    # the MCQA code's form: flow 0 kept, short ranked picks padded by draws with replacement
    assert main(["construct", "--method", "craft", "--knowledge", str(tmp_path / "k.jsonl"), "--tau", "0.5",
                 "--n-van", "1", "--n-idk", "3", "--keep-zero-flow", "--with-replacement", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0] == {"id": "k2", "label": "vanilla"} and len(rows) == 4
    assert {r["id"] for r in rows[1:]} <= {"u1", "u2"}
    manifest = json.loads((tmp_path / "sel.jsonl.manifest.json").read_text())
    assert manifest["shortfall"] == {"vanilla": 0, "idk": 0} and manifest["n_idk_unique"] <= 2


def test_construct_missing_column_is_a_clear_error(tmp_path, capsys):
    write_jsonl(tmp_path / "k.jsonl", [{"id": "a", "correctness": 0.5}])
    assert main(["construct", "--method", "rait", "--knowledge", str(tmp_path / "k.jsonl"),
                 "--n-van", "1", "--n-idk", "1", "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "certainty" in capsys.readouterr().err


def test_paths_are_checked_first_and_named(tmp_path, capsys):
    """A missing input file or an --out that cannot be created names the option, not a raw [Errno 2]."""
    assert main(["construct", "--method", "craft", "--knowledge", str(tmp_path / "missing.jsonl"), "--n-van", "1",
                 "--n-idk", "1", "--out", str(tmp_path / "sel.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "--knowledge" in err and "no such file" in err and "Errno" not in err
    assert main(["bench", "--engine", "fake", "--methods", "init-refuse", "--out", "/proc/nope"]) == 2
    err = capsys.readouterr().err
    assert "--out /proc/nope: cannot create" in err and "Errno" not in err


def test_help_gives_each_default_once(capsys):
    import pytest
    for command in ("bench", "plan"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        import re
        text = " ".join(capsys.readouterr().out.split())
        assert "(default: None)" not in text and not re.search(r"\(default:[^)]*\) \(default:", text)
        assert "(default: smoke)" in text and "float16" in text
    assert "pilot sample" in text                                    # plan has a description


def test_ls_says_which_domain_a_preset_was_sized_for(capsys):
    assert main(["ls"]) == 0
    out = capsys.readouterr().out
    assert "study          pool 2400 (OEQA only)" in out and "smoke          pool 150/150" in out


def test_model_add_from_a_directory_makes_an_alias(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    model = tmp_path / "my-model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "tokenizer.json").write_text("{}")
    assert main(["model", "add", "mine", "--from", str(model)]) == 0
    assert resolve("mine") == str(model.resolve())
    assert main(["ls"]) == 0 and "mine" in capsys.readouterr().out
    assert main(["model", "add", "mine", "--from", str(model)]) == 2               # exists
    assert main(["model", "add", "bad name", "--from", str(model)]) == 2
    assert main(["model", "add", "empty", "--from", str(tmp_path)]) == 2           # no config.json
    assert "no config.json" in capsys.readouterr().err
    assert main(["model", "add", "g", "--gguf", str(model / "config.json")]) == 2  # not a .gguf


def test_version_and_help_show_defaults_and_examples(capsys):
    from harness import __version__
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"harness {__version__}"
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: craft,rait)" in text and "(default: smoke)" in text and "examples:" in text
    assert "hf, vllm, fake:" in text and "what `make bench` runs" in text
