"""Each task runs with lm-eval alone, offline, from a local data file: the README's recipe, verbatim
in spirit (a YAML that includes ours and points at JSONL), through the `lm_eval` command."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.prompts import REFUSE_PREFIX
from harness.tasks import TASKS_DIR

pytestmark = pytest.mark.integration


def test_lm_eval_runs_our_task_and_its_refusal_variant_on_local_data(tmp_path, data_dir):
    from harness.models import resolve
    mine = tmp_path / "my_tasks"
    mine.mkdir()
    for name, base in (("my_triviaqa_local", "triviaqa.yaml"), ("my_triviaqa_local_refuse", "triviaqa_refuse.yaml")):
        (mine / f"{name}.yaml").write_text(
            f"include: {TASKS_DIR / 'triviaqa' / base}\n"
            f"task: {name}\n"
            "dataset_path: json\n"
            "dataset_name: null\n"
            f"dataset_kwargs:\n  data_files:\n    validation: {Path(data_dir) / 'triviaqa' / 'validation.jsonl'}\n")
    out = tmp_path / "lm_eval_out"
    cmd = [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={resolve('smollm2-135m')}",
           "--include_path", str(mine), "--tasks", "my_triviaqa_local,my_triviaqa_local_refuse", "--limit", "3",
           "--apply_chat_template", "--output_path", str(out), "--log_samples", "--device", "cpu"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(next(out.rglob("results_*.json")).read_text())["results"]
    for task in ("my_triviaqa_local", "my_triviaqa_local_refuse"):
        r = results[task]
        assert r["correct,none"] + r["wrong,none"] + r["refused,none"] == pytest.approx(1.0)
    refuse = [json.loads(line) for line in next(out.rglob("samples_my_triviaqa_local_refuse_*.jsonl")).open()]
    plain = [json.loads(line) for line in next(out.rglob("samples_my_triviaqa_local_2*.jsonl")).open()]
    assert len(refuse) == len(plain) == 3
    assert all(REFUSE_PREFIX.strip()[:30] in json.dumps(s["arguments"]) for s in refuse)
    assert not any(REFUSE_PREFIX.strip()[:30] in json.dumps(s["arguments"]) for s in plain)
