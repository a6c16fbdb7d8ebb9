"""The recipes of docs/extending.md work as written: its example method files are registered and run
through the registry's path (one new file and one registry line; a stage of its own in the same
file), and a task folder with the documented metadata becomes a task and a dataset."""
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
from harness.methods import METHODS
from harness.tasks import TASKS_DIR, registry

from harness.cli import main
from harness.knowledge import construct as c
from harness.run import layout
from harness.run.config import RunConfig
from harness.run.io import read_jsonl, write_jsonl
from harness.run.presets import PRESETS
from harness.run.stage import EnginePool, StageContext, run_stages
from harness.schedule import checked, schedule

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "extending.md"


def doc_block(heading: str, lang: str, index: int = 0) -> str:
    section = DOC.read_text().split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{lang}\n(.*?)```", section, re.S)[index]


def load(name: str, index: int, monkeypatch) -> types.ModuleType:
    """A method file of the doc as the module harness.methods.<name>."""
    module = types.ModuleType(f"harness.methods.{name}")
    exec(compile(doc_block("## Extending", "python", index), f"{name}.py", "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def registry_with(name: str) -> str:
    """methods/__init__.py with the doc's edit: the module in the import, its line in METHODS."""
    text = (REPO / "methods" / "__init__.py").read_text()
    text = text.replace("from harness.methods import (", f"from harness.methods import ({name}, ", 1)
    return text.replace("\n}\n", f'\n    "{name.replace("_", "-")}": {name}.METHOD,\n}}\n', 1)


TABLE = [{"id": f"v{i}", "correctness": 1.0, "certainty": 1.0} for i in range(3)] + \
        [{"id": f"i{i}", "correctness": 0.0, "certainty": float(i)} for i in range(4)]


def test_the_example_method_is_one_file_and_one_registry_line(tmp_path, monkeypatch):
    half = load("half_idk", 0, monkeypatch)
    sel = c.apply(half.METHOD.select, half.METHOD.table, TABLE, c.Params(c.from_tau(0.5), 2, 5), seed=0)
    assert sorted(r["id"] for r in sel.rows if r["label"] == "idk") == ["i2", "i3"]
    assert sel.shortfall == {"vanilla": 0, "idk": 3}
    # the edited registry, executed, holds it; the harness then plans and constructs it
    namespace: dict = {}
    exec(compile(registry_with("half_idk"), "methods/__init__.py", "exec"), namespace)
    assert list(namespace["METHODS"])[-1] == "half-idk"
    monkeypatch.setitem(METHODS, "half-idk", namespace["METHODS"]["half-idk"])
    names = [s.name for s in schedule(checked(["half-idk"], ["triviaqa"]), ["triviaqa"])]
    assert {"open/half-idk/build", "open/half-idk/train", "eval/half-idk/triviaqa"} <= set(names)
    write_jsonl(tmp_path / "k.jsonl", TABLE)
    assert main(["construct", "--method", "half-idk", "--knowledge", str(tmp_path / "k.jsonl"), "--n-van", "2",
                 "--n-idk", "2", "--tau", "0.5", "--out", str(tmp_path / "sel.jsonl")]) == 0
    assert [r["label"] for r in read_jsonl(tmp_path / "sel.jsonl")] == ["vanilla", "vanilla", "idk", "idk"]
    # and that is all a new method changes: its file and the registry's two lines
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "methods", repo / "methods")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "registry"], check=True)
    (repo / "methods" / "half_idk.py").write_text(doc_block("## Extending", "python", 0))
    (repo / "methods" / "__init__.py").write_text(registry_with("half_idk"))
    subprocess.run([*git, "add", "-A"], check=True)
    stat = subprocess.run([*git, "diff", "--cached", "--numstat"], check=True, capture_output=True, text=True).stdout
    changed = {line.split("\t")[2]: line.split("\t")[:2] for line in stat.splitlines()}
    assert set(changed) == {"methods/half_idk.py", "methods/__init__.py"}
    assert changed["methods/__init__.py"] == ["2", "1"]       # the import line rewritten, the entry added


def test_a_method_with_a_stage_of_its_own_declares_it_in_its_file(tmp_path, monkeypatch):
    method = load("len_idk", 1, monkeypatch).METHOD
    names = [s.name for s in method.stages("open")]
    assert names == ["open/pool", "open/query_m0", "open/lengths", "open/len-idk/build", "open/len-idk/crss",
                     "open/len-idk/train"]
    # its stage runs, and the build hands the stage's columns to its select
    cfg = RunConfig(model="unused", preset=PRESETS["tiny"])
    run_dir = tmp_path / "run"
    items = [{"id": r["id"], "question": "Q" * (5 + i), "answer": "A", "aliases": ["A"]} for i, r in enumerate(TABLE)]
    write_jsonl(run_dir / layout.pool("open") / layout.ITEMS, items)
    write_jsonl(run_dir / layout.query("open") / layout.KNOWLEDGE, TABLE)
    for stage in (layout.pool("open"), layout.query("open")):
        (run_dir / stage / layout.DONE).write_text('{"version": 1, "files": null}\n')
    stages = {s.name: s for s in method.stages("open")}
    run_stages([stages["open/lengths"], stages["open/len-idk/build"]],
               lambda name: StageContext(cfg, run_dir, name, "unused", EnginePool("fake")))
    idk = [r["id"] for r in read_jsonl(run_dir / layout.build("open", "len-idk") / layout.SELECTION)
           if r["label"] == "idk"]
    assert idk == ["i3", "i2"]                    # the longest questions first, as its select ranks them


def test_a_method_whose_refusal_no_detector_counts_is_refused():
    from harness.method import Method
    with pytest.raises(ValueError, match="does not count.*REFUSAL_SIGNATURES"):
        Method(name="x", style="refuse", description="x", refusals=("Pass.",))


def test_a_task_folder_with_the_documented_metadata_is_a_task(tmp_path):
    root = tmp_path / "tasks"
    shutil.copytree(TASKS_DIR / "nq", root / "my_task")
    (root / "my_task" / "nq.yaml").unlink()
    (root / "my_task" / "nq_refuse.yaml").unlink()       # it includes nq.yaml: a broken include is an error
    yaml = (TASKS_DIR / "nq" / "nq.yaml").read_text().replace("task: rait_nq", "task: rait_my_task")
    yaml = yaml[:yaml.index("metadata:")] + doc_block("## Extending", "yaml")
    (root / "my_task" / "my_task.yaml").write_text(yaml)
    tasks, datasets = registry(root)
    assert list(tasks) == ["my_task"] and tasks["my_task"].kind == "open"
    assert tasks["my_task"].description == "My data test (out-of-domain OEQA)"
    assert datasets["my_data"].splits == ("train", "test") and datasets["my_data"].task == "my_task"
