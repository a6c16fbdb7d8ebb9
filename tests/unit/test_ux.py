"""What a new user meets first: the CLI explains itself, inputs are checked before the first stage,
files are readable by others, two benches sharing an --out cannot lose a table, and the notebook API."""
import json
import os
import stat
import subprocess
import sys

import pytest
from test_bench_fake import write_data, write_script

from harness import api

from harness.run import io
from harness.bench import busy_warning
from harness.cli import main
from harness.engines.models import resolve


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


def test_written_files_and_directories_are_readable_by_others(tmp_path):
    io.write_json(tmp_path / "a.json", {"x": 1})
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o666 & ~io.UMASK
    with io.atomic_dir(tmp_path / "d") as tmp:
        (open(os.path.join(tmp, "f"), "w")).close()
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~io.UMASK
    if io.UMASK == 0o022:
        assert (tmp_path / "a.json").stat().st_mode & 0o044 == 0o044


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


def test_a_busy_machine_is_reported():
    cores = os.cpu_count() or 1
    assert busy_warning([cores] * 5) and "busy" in busy_warning([cores] * 5)
    assert busy_warning([0] * 5) is None


def test_two_benches_of_different_configs_in_one_out_never_lose_a_table(tmp_path):
    """Two real processes, different data seeds, the same --out: one writes the table, the other
    exits with an error that says where its results are, never a silent overwrite."""
    data, out = write_data(tmp_path / "data"), tmp_path / "out"
    script = write_script(tmp_path / "s.json")
    cmd = [sys.executable, "-m", "harness.cli", "bench", "--engine", "fake", "--model", script, "--methods",
           "init-refuse", "--tasks", "triviaqa", "--data-dir", str(data), "--out", str(out), "--limit", "3"]
    procs = [subprocess.Popen(cmd + ["--seed", str(s)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for s in (0, 1)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert sorted(rc for rc, _ in results) == [0, 2], results
    loser = next(err for rc, err in results if rc == 2)
    assert "a different config" in loser
    winner = procs[[rc for rc, _ in results].index(0)]
    table = json.loads((out / "leaderboard.json").read_text())
    runs = {r["run"] for r in table}
    assert len(runs) == 1 and (out / "runs" / runs.pop() / "config.json").exists()
    assert winner.returncode == 0


def test_the_notebook_api_returns_dataframes_and_leaves_the_cli_table_alone(tmp_path):
    data, out = write_data(tmp_path / "data"), tmp_path / "out"
    rows = api.bench(["init-refuse"], ["triviaqa"], model=write_script(tmp_path / "s.json"), out=out,
                     engine="fake", data_dir=str(data), limit=3)
    assert list(rows.method) == ["init-basic", "init-refuse"] and set(rows.n) == {3}
    assert not (out / "leaderboard.json").exists()
    recs = api.records(rows.run[0], out=out)
    assert len(recs) == 6 and {"method", "seed", "task", "id", "class"} <= set(recs.columns)
    share = recs[recs.method == "init-refuse"]["class"].value_counts(normalize=True)
    assert share.get("correct", 0) == pytest.approx(rows.set_index("method").loc["init-refuse", "pc"])
    lm = json.loads((out / "runs" / rows.run[0] / "eval" / "init-refuse" / "triviaqa" / "lm_eval_results.json").read_text())
    assert lm["results"]["rait_triviaqa"]["correct,none"] == pytest.approx(rows.set_index("method").loc["init-refuse", "pc"])
    table = api.publish(rows.run.unique(), tmp_path / "pub", out=out, resamples=20)
    assert (tmp_path / "pub" / "leaderboard.md").exists() and list(table.method) == ["init-basic", "init-refuse"]
    with pytest.raises(FileNotFoundError, match="neither a run directory"):
        api.records("nope", out=out)


def _stage_ctx(tmp_path, name):
    from harness.run.config import RunConfig
    from harness.run.presets import PRESETS
    from harness.run.stage import EnginePool, StageContext
    cfg = RunConfig(model="m", preset=PRESETS["tiny"], engine="fake")
    return StageContext(cfg, tmp_path, name, "base", EnginePool("fake"), None)


def _done(path, rows_file, rows):
    from harness.run.io import write_jsonl
    write_jsonl(path / rows_file, rows)
    (path / "DONE").write_text("{}")


def test_an_empty_training_set_and_a_rehearsal_fallback_are_said_at_run_time_and_recorded(tmp_path, capsys,
                                                                                          monkeypatch):
    import harness.training.sft
    from harness.stages import knowledge as stages_knowledge
    from harness.stages import training as stages_training
    from harness.run.io import read_json
    _done(tmp_path / "open" / "rait" / "build", "sft_data.jsonl", [])
    stages_training.train_stage("rait", "open").run(_stage_ctx(tmp_path, "open/rait/train"))
    assert "constructed training set is empty" in capsys.readouterr().err
    assert read_json(tmp_path / "open" / "rait" / "train" / "train.json")["mode"] == "none"

    monkeypatch.setattr(harness.training.sft, "train", lambda base, rows, sft, out, seed, **kw: write_json_train(out, rows))
    table = [{"id": f"q{i}", "correctness": c, "certainty": 0.5} for i, c in enumerate([1.0, 0.5, 0.0, 0.0])]
    _done(tmp_path / "open" / "query_m0", "knowledge.jsonl", table)
    _done(tmp_path / "open" / "pool", "items.jsonl", [{"id": r["id"], "question": "Q?", "answer": "A"} for r in table])
    stages_knowledge.rehearse_stage("open").run(_stage_ctx(tmp_path, "open/rehearse"))   # tiny: 3 rehearsed
    err = " ".join(capsys.readouterr().err.split())
    assert "only 0 of 3 questions meet mu >= 0.995" in err and "(1 at mu = 0)" in err
    report = read_json(tmp_path / "open" / "rehearse" / "rehearsal.json")
    assert report["fallback"] and report["picked"] == 3 and report["lowest_correctness_picked"] == 0.0


def write_json_train(out, rows):
    from harness.run.io import write_json
    write_json(out / "train.json", {"mode": "lora", "examples": len(rows)})


class _Tok:
    chat_template = None


def test_base_models_get_a_completion_prompt_and_chat_is_refused_without_a_template():
    from harness.data.prompts import answer_text, render_chat, resolved_style
    assert render_chat(_Tok(), "Who wrote Hamlet?") == "Question: Who wrote Hamlet?\nAnswer:"
    shots = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"},
             {"role": "user", "content": "3+3?"}]
    assert render_chat(_Tok(), shots) == "Question: 2+2?\nAnswer: 4\n\nQuestion: 3+3?\nAnswer:"
    assert answer_text(_Tok(), "Shakespeare") == " Shakespeare"
    assert resolved_style(_Tok(), "auto") == "completion"
    with pytest.raises(ValueError, match="needs a chat template"):
        resolved_style(_Tok(), "chat")
    with pytest.raises(ValueError, match="prompt style must be one of auto, chat, completion"):
        resolved_style(_Tok(), "plain")


def test_model_name_and_prompt_style_stay_out_of_the_run_hash_unless_they_change_prompts():
    from harness.run.config import RunConfig
    from harness.run.presets import PRESETS
    from harness.run.stage import config_hash
    base = RunConfig(model="m", preset=PRESETS["tiny"])
    assert config_hash(base) == config_hash(RunConfig(model="m", preset=PRESETS["tiny"], model_name="My model"))
    assert config_hash(base) != config_hash(RunConfig(model="m", preset=PRESETS["tiny"], prompt_style="completion"))
    assert RunConfig(model="m/x", preset=PRESETS["tiny"], model_name="X").label == "X"


def test_the_best_ths_is_per_model():
    from harness.reporting.leaderboard import is_best_ths
    rows = [{"model": "a", "ths": 0.1}, {"model": "a", "ths": 0.3}, {"model": "b", "ths": 0.2}]
    assert [is_best_ths(r, rows) for r in rows] == [False, True, True]
    tied = [{"model": "a", "ths": 0.0} for _ in range(4)] + [{"model": "a", "ths": None}]
    assert not any(is_best_ths(r, tied) for r in tied)            # four tied THS of 0.0: no best
    assert [is_best_ths(r, tied + [{"model": "a", "ths": 0.01}]) for r in tied[:1]] == [False]


def test_the_ths_plane_zooms_to_the_data_and_names_methods_in_a_legend():
    from harness.reporting.plots import ths_plane
    rows = [{"model": "m", "run": "r", "method": meth, "pc": pc, "pw": pw, "pc_lo": pc - 0.02, "pc_hi": pc + 0.02,
             "pw_lo": pw - 0.02, "pw_hi": pw + 0.02}
            for meth, pc, pw in (("init-basic", 0.08, 0.90), ("rait", 0.07, 0.80), ("craft", 0.075, 0.81))]
    ax = ths_plane("triviaqa", rows).axes[0]
    assert ax.get_xlim()[1] < 20 and ax.get_ylim()[0] > 50            # not the whole 0-100 square
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"init-basic", "rait", "craft"} <= set(legend) and any(t.startswith("THS = 0") for t in legend)
    assert not ax.texts                                                  # no labels on the points to collide


def test_a_method_at_another_methods_point_is_not_hidden():
    """Four methods with the same (Pc, Pw): each later one is a larger hollow ring and its legend entry
    says whose point it shares."""
    from harness.reporting.plots import ths_plane
    rows = [{"model": "m", "run": "r", "method": meth, "pc": pc, "pw": pw}
            for meth, pc, pw in (("init-basic", 0.5, 0.5), ("idk-sft", 0.46, 0.54), ("init-refuse", 0.46, 0.54),
                                 ("rait", 0.2, 0.5))]
    ax = ths_plane("geo_city", rows).axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "init-refuse (same point as idk-sft)" in legend and "idk-sft" in legend and "rait" in legend
    sizes = {c.get_label(): c.lines[0].get_markersize() for c in ax.containers}
    assert len(sizes) == 4 and sizes["init-refuse (same point as idk-sft)"] > sizes["idk-sft"] == sizes["rait"]


def test_an_unreadable_task_yaml_names_its_file(tmp_path):
    import shutil
    from harness.tasks import TASKS_DIR, registry
    tasks = tmp_path / "tasks"
    shutil.copytree(TASKS_DIR, tasks, ignore=shutil.ignore_patterns("__pycache__"))
    broken = tasks / "nq" / "nq.yaml"
    broken.write_text(broken.read_text() + "task: rait_nq\n  bad: [unclosed\n")
    # lm-eval's own index skips it silently (nq would look like an unknown task): we name the file.
    with pytest.raises(ValueError, match=rf"task YAML {broken} cannot be read: ScannerError"):
        registry(tasks)
    broken.write_text("- a list, not a task\n")
    with pytest.raises(ValueError, match=rf"{broken} cannot be read: ValueError: Expected YAML dict"):
        registry(tasks)


def test_the_ths_plane_shows_edge_points_whole_and_flags_an_untrained_method():
    from harness.reporting.plots import ths_plane
    rows = [{"model": "m", "run": "r", "method": "init-basic", "pc": 0.0, "pw": 1.0},
            {"model": "m", "run": "r", "method": "craft", "pc": 0.0, "pw": 1.0, "untrained": True},
            {"model": "m", "run": "r", "method": "rait", "pc": 0.0, "pw": 1.0, "shortfall_van": 4}]
    ax = ths_plane("triviaqa", rows).axes[0]
    assert ax.get_xlim()[0] < 0 and ax.get_ylim()[1] > 100             # (0, 100) is inside the frame
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    craft, rait = "craft (UNTRAINED; same point as init-basic)", "rait (short; same point as init-basic, craft)"
    assert craft in legend and rait in legend and "init-basic" in legend
    faces = {c.get_label(): c.lines[0].get_markerfacecolor() for c in ax.containers}
    assert faces[craft] == "none" and faces["init-basic"] != "none"     # flagged: hollow
