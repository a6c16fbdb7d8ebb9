"""The task registry (harness.tasks): task folders as lm-eval tasks."""
import pytest


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
