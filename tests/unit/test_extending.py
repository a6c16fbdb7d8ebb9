"""The "Extending" recipes (docs/extending.md) work as written: its example method file runs through the
registry's path, and a task folder with the documented metadata becomes a task and a dataset."""
import re
import shutil
import types
from pathlib import Path

from harness import construct as c
from harness.tasks import TASKS_DIR, registry

README = Path(__file__).resolve().parents[2] / "docs" / "extending.md"


def readme_block(heading: str, lang: str, index: int = 0) -> str:
    section = README.read_text().split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{lang}\n(.*?)```", section, re.S)[index]


def test_the_example_method_file_runs():
    method = types.ModuleType("half_idk")
    exec(compile(readme_block("## Extending", "python"), "half_idk.py", "exec"), method.__dict__)
    table = [{"id": f"v{i}", "correctness": 1.0, "certainty": 1.0} for i in range(3)] + \
            [{"id": f"i{i}", "correctness": 0.0, "certainty": float(i)} for i in range(4)]
    sel = c.apply(method.select, method.TABLE, table, c.Params(c.from_tau(0.5), 2, 5), seed=0)
    idk = [r["id"] for r in sel.rows if r["label"] == "idk"]
    assert sorted(idk) == ["i2", "i3"] and sel.shortfall == {"vanilla": 0, "idk": 3}
    assert [s.name for s in method.stages("open")] == [
        "open/pool", "open/query_m0", "open/half-idk/build", "open/half-idk/crss", "open/half-idk/train"]


def test_a_task_folder_with_the_documented_metadata_is_a_task(tmp_path):
    root = tmp_path / "tasks"
    shutil.copytree(TASKS_DIR / "nq", root / "my_task")
    (root / "my_task" / "nq.yaml").unlink()
    (root / "my_task" / "nq_refuse.yaml").unlink()       # it includes nq.yaml: a broken include is an error
    yaml = (TASKS_DIR / "nq" / "nq.yaml").read_text().replace("task: rait_nq", "task: rait_my_task")
    yaml = yaml[:yaml.index("metadata:")] + readme_block("## Extending", "yaml")
    (root / "my_task" / "my_task.yaml").write_text(yaml)
    tasks, datasets = registry(root)
    assert list(tasks) == ["my_task"] and tasks["my_task"].kind == "open"
    assert tasks["my_task"].description == "My data test (out-of-domain OEQA)"
    assert datasets["my_data"].splits == ("train", "test") and datasets["my_data"].task == "my_task"
