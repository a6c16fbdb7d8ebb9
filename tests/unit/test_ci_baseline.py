"""The committed CI baseline gates the smoke bench: unchanged results pass, a degraded copy fails."""
import copy
import json
from pathlib import Path

from harness.cli import main

BASELINE = Path(__file__).resolve().parents[2] / "ci" / "baseline.json"
METRICS = ("pc", "pw", "pr", "ths", "over_refusal", "truthfulness")


def results_from_baseline() -> list[dict]:
    rows = json.loads(BASELINE.read_text())["rows"]
    # the reference's THS and over-refusal are 0 by definition (not gated, not in the file)
    return [{k: r.get(k, 0.0) for k in ("model", "method", "task", *METRICS)} for r in rows]


def test_no_gated_metric_has_a_tolerance_of_zero():
    for r in json.loads(BASELINE.read_text())["rows"]:
        gated = [m for m in METRICS if m in r]
        assert all(r.get(f"{m}_ci_half", 0) > 0 for m in gated), r


def test_committed_baseline_covers_the_ci_smoke_bench():
    rows = results_from_baseline()
    keys = {(r["method"], r["task"]) for r in rows}
    assert keys == {(m, t) for m in ("init-basic", "craft", "rait") for t in ("triviaqa", "mmlu")}


def test_unchanged_results_pass(tmp_path):
    path = tmp_path / "leaderboard.json"
    path.write_text(json.dumps(results_from_baseline()))
    assert main(["regress", "--baseline", str(BASELINE), "--results", str(path)]) == 0


def test_degraded_copy_fails(tmp_path):
    rows = copy.deepcopy(results_from_baseline())
    craft = next(r for r in rows if r["method"] == "craft" and r["task"] == "mmlu")
    craft["pc"] -= 0.2            # far beyond the bootstrap half-width (~0.07 at n=100)
    craft["pw"] += 0.2
    path = tmp_path / "leaderboard.json"
    path.write_text(json.dumps(rows))
    assert main(["regress", "--baseline", str(BASELINE), "--results", str(path)]) == 1


def test_missing_row_fails(tmp_path):
    rows = [r for r in results_from_baseline() if r["method"] != "rait"]
    path = tmp_path / "leaderboard.json"
    path.write_text(json.dumps(rows))
    assert main(["regress", "--baseline", str(BASELINE), "--results", str(path)]) == 1
