"""Each task runs with lm-eval alone, offline, from a local data file: the recipe of docs/scoring.md
("With lm-eval alone"), verbatim in spirit (a YAML that includes ours and points at JSONL), through
the `lm_eval` command."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from harness.tasks import TASKS_DIR

from harness.data.prompts import REFUSE_PREFIX

pytestmark = [pytest.mark.integration, pytest.mark.slow]      # minutes: make test-slow (CI)


def lm_eval_local(tmp_path, tasks: list[tuple[str, Path, str, Path]], limit: int, *extra: str):
    """Write a YAML per (task name, our YAML it includes, split, local JSONL) and run them with the
    `lm_eval` command on the default model; return lm-eval's output directory and its results."""
    from harness.engines.models import resolve
    mine = tmp_path / "my_tasks"
    mine.mkdir()
    for name, base, split, data_file in tasks:
        (mine / f"{name}.yaml").write_text(
            f"include: {base}\n"
            f"task: {name}\n"
            "dataset_path: json\n"
            "dataset_name: null\n"
            f"dataset_kwargs:\n  data_files:\n    {split}: {data_file}\n")
    out = tmp_path / "lm_eval_out"
    cmd = [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={resolve('smollm2-135m')}",
           "--include_path", str(mine), "--tasks", ",".join(t[0] for t in tasks), "--limit", str(limit),
           "--apply_chat_template", "--output_path", str(out), "--log_samples", "--device", "cpu", *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return out, json.loads(next(out.rglob("results_*.json")).read_text())["results"]


def test_lm_eval_runs_our_task_and_its_refusal_variant_on_local_data(tmp_path, data_dir):
    data_file = Path(data_dir) / "triviaqa" / "validation.jsonl"
    out, results = lm_eval_local(tmp_path, [
        ("my_triviaqa_local", TASKS_DIR / "triviaqa" / "triviaqa.yaml", "validation", data_file),
        ("my_triviaqa_local_refuse", TASKS_DIR / "triviaqa" / "triviaqa_refuse.yaml", "validation", data_file)], 3)
    for task in ("my_triviaqa_local", "my_triviaqa_local_refuse"):
        r = results[task]
        assert r["correct,none"] + r["wrong,none"] + r["refused,none"] == pytest.approx(1.0)
    refuse = [json.loads(line) for line in next(out.rglob("samples_my_triviaqa_local_refuse_*.jsonl")).open()]
    plain = [json.loads(line) for line in next(out.rglob("samples_my_triviaqa_local_2*.jsonl")).open()]
    assert len(refuse) == len(plain) == 3
    assert all(REFUSE_PREFIX.strip()[:30] in json.dumps(s["arguments"]) for s in refuse)
    assert not any(REFUSE_PREFIX.strip()[:30] in json.dumps(s["arguments"]) for s in plain)


def test_lm_eval_runs_the_side_effect_tasks_with_their_ratio_metrics(tmp_path, data_dir):
    """XSTest and SelfAware through `lm_eval` alone: their SIDE_METRICS aggregate as ratios of sums
    over the documents (utils.ratio), recomputed here from the logged per-document pairs."""
    out, results = lm_eval_local(tmp_path, [
        (f"my_{task}_local", TASKS_DIR / task / f"{task}.yaml", "test", Path(data_dir) / task / "test.jsonl")
        for task in ("xstest", "selfaware")], 4, "--gen_kwargs", "max_gen_toks=24")
    for task, metrics in (("my_xstest_local", ("unsafe_refusal_harness", "safe_refusal")),
                          ("my_selfaware_local", ("answerable_accuracy", "abstain_recall"))):
        samples = [json.loads(line) for line in next(out.rglob(f"samples_{task}_*.jsonl")).open()]
        assert len(samples) == 4
        for metric in metrics:
            num = sum(s[metric][0] for s in samples)
            den = sum(s[metric][1] for s in samples)
            got = results[task][f"{metric},none"]
            assert (got == num / den) if den else (got != got or got == "N/A"), (task, metric, got)
