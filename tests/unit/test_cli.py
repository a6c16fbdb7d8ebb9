import json

from harness.cli import main
from harness.io import write_jsonl


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
