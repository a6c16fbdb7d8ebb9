"""The committed CI baseline gates both legs (the smoke bench, the geo leg with its training sets):
unchanged results pass, a degraded copy fails, and the geo leg fails a move in either direction."""
import copy
import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.reporting.regress import GATED, tolerance_of

BASELINE = Path(__file__).resolve().parents[3] / "ci" / "baseline.json"
METRICS = ("pc", "pw", "pr", "ths", "over_refusal", "truthfulness")


def results_from_baseline() -> list[dict]:
    rows = json.loads(BASELINE.read_text())["rows"]
    # the reference's THS and over-refusal are 0 by definition (not gated, not in the file)
    return [{k: r.get(k, 0.0) for k in ("model", "method", "task", *METRICS)} if not r["task"].startswith("train:")
            else {k: v for k, v in r.items() if k in ("model", "method", "task", *GATED)} for r in rows]


def test_no_gated_metric_has_a_tolerance_of_zero():
    baseline = json.loads(BASELINE.read_text())
    for r in baseline["rows"]:
        gated = [m for m in GATED if m in r]
        assert gated and all(tolerance_of(baseline, r, m) > 0 for m in gated), r


def test_committed_baseline_covers_the_ci_smoke_bench():
    rows = results_from_baseline()
    keys = {(r["method"], r["task"]) for r in rows}
    assert keys == ({(m, t) for m in ("init-basic", "craft", "rait") for t in ("triviaqa", "mmlu", "geo_city")}
                    | {(m, "train:geo_city") for m in ("craft", "rait")})
    assert json.loads(BASELINE.read_text())["two_sided"] == ["geo_city"]


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


@pytest.mark.parametrize("task, metric, delta", [
    ("geo_city", "ths", +0.2),             # CRaFT's final SFT from the rehearsed model raised its THS
    ("train:geo_city", "van_certainty", -0.3),   # the least certain known questions, as in the planted bug
])
def test_the_geo_leg_fails_a_move_either_way(tmp_path, task, metric, delta):
    """A better THS fails the two-sided geo rows (a one-sided gate would pass it); a training set that
    moved fails whatever its direction."""
    rows = copy.deepcopy(results_from_baseline())
    craft = next(r for r in rows if r["method"] == "craft" and r["task"] == task)
    craft[metric] += delta
    path = tmp_path / "leaderboard.json"
    path.write_text(json.dumps(rows))
    assert main(["regress", "--baseline", str(BASELINE), "--results", str(path)]) == 1
