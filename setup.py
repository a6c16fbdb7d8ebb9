"""methods/ and tasks/ stay top-level folders but install as harness.methods and harness.tasks, so
`pip install` puts no packages called `methods` or `tasks` on anyone's path. Each task folder
(tasks/<task>/: YAML and utils.py) is a package, found here so that adding one edits no file."""
from pathlib import Path

from setuptools import find_packages, setup

TASKS = sorted(p.name for p in Path(__file__).parent.joinpath("tasks").iterdir() if (p / "utils.py").is_file())

setup(
    package_dir={"harness": "harness", "harness.methods": "methods", "harness.tasks": "tasks",
                 **{f"harness.tasks.{t}": f"tasks/{t}" for t in TASKS}},
    packages=[*find_packages(include=["harness", "harness.*"]), "harness.methods", "harness.tasks",
              *[f"harness.tasks.{t}" for t in TASKS]],
)
