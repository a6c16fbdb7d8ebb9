"""The regression gate: directions, tolerances and their precedence, missing/new rows, the CLI."""
import copy
import json

import pytest
from support.synthetic import make_run

from harness.cli import main
from harness.reporting.popularity import wilson
from harness.reporting.publish import publish
from harness.reporting.regress import compare, make_baseline, tolerance_of, updated, wilson_halves
from harness.run.io import read_json, write_json


def _row(method, task="triviaqa", **metrics):
    base = {"model": "tiny", "method": method, "task": task, "n": 100, "pc": 0.5, "pw": 0.3, "pr": 0.2,
            "ths": 0.1, "over_refusal": 0.05, "truthfulness": 0.7, "refusal_precision": 0.6,
            "unparsed": 0, "shortfall_van": None, "shortfall_idk": None, "preset": "smoke", "run": "h"}
    return {**base, **metrics}


@pytest.fixture
def rows():
    return [_row("init-basic", ths=0.0, over_refusal=0.0), _row("craft"), _row("rait", task="mmlu")]


def _verdicts(report):
    return {(c.row[1], c.metric): c.verdict for c in report.changes}


def test_identical_results_pass_with_nothing_moved(rows):
    report = compare(make_baseline(rows), copy.deepcopy(rows))
    assert not report.failed and report.changes == [] and report.compared == 3


@pytest.mark.parametrize("metric,delta", [("pc", -0.05), ("ths", -0.05), ("truthfulness", -0.05),
                                          ("pw", +0.05), ("over_refusal", +0.05)])
def test_a_metric_moved_the_bad_way_beyond_tolerance_fails(rows, metric, delta):
    tampered = copy.deepcopy(rows)
    tampered[1][metric] += delta
    baseline = make_baseline(rows, tolerance={metric: 0.02})
    report = compare(baseline, tampered)
    assert report.failed and _verdicts(report) == {("craft", metric): "worse"}
    (c,) = report.failures
    assert c.delta == pytest.approx(delta) and c.tolerance == 0.02 and c.baseline == rows[1][metric]


@pytest.mark.parametrize("metric,delta", [("pc", +0.05), ("ths", +0.2), ("pw", -0.05), ("over_refusal", -0.05)])
def test_an_improvement_is_reported_not_failed(rows, metric, delta):
    tampered = copy.deepcopy(rows)
    tampered[1][metric] += delta
    report = compare(make_baseline(rows), tampered)
    assert not report.failed and _verdicts(report) == {("craft", metric): "better"}


def test_pr_moves_are_information_only(rows):
    tampered = copy.deepcopy(rows)
    tampered[1]["pr"] += 0.3
    report = compare(make_baseline(rows), tampered)
    assert not report.failed and _verdicts(report) == {("craft", "pr"): "info"}


def test_a_move_within_tolerance_is_reported_and_passes(rows):
    tampered = copy.deepcopy(rows)
    tampered[1]["pc"] -= 0.01
    report = compare(make_baseline(rows, tolerance={"pc": 0.02}), tampered)
    assert not report.failed and _verdicts(report) == {("craft", "pc"): "within"}


def test_a_missing_row_fails_and_a_new_row_is_only_reported(rows):
    report = compare(make_baseline(rows), rows[:2] + [_row("craft", task="nq")])
    assert _verdicts(report) == {("rait", None): "missing", ("craft", None): "new"}
    assert [c.verdict for c in report.failures] == ["missing"]
    assert not compare(make_baseline(rows[:2]), rows).failed


def test_none_equals_only_none(rows):
    baseline = make_baseline(rows)
    tampered = copy.deepcopy(rows)
    tampered[1]["over_refusal"] = None          # number -> None: changed, reported
    report = compare(baseline, tampered)
    assert not report.failed and _verdicts(report) == {("craft", "over_refusal"): "changed"}
    tampered[1]["ths"] = None                   # THS lost: a failure
    assert _verdicts(compare(baseline, tampered))[("craft", "ths")] == "undefined"
    assert compare(baseline, tampered).failed
    none_base = make_baseline([_row("craft", ths=None)])
    assert compare(none_base, [_row("craft", ths=None)]).changes == []
    report = compare(none_base, [_row("craft", ths=0.3)])      # None -> number: reported only
    assert not report.failed and _verdicts(report) == {("craft", "ths"): "changed"}


def test_tolerance_precedence_row_then_file_then_ci_half_then_exact():
    brow = {"tolerance": {"pc": 0.1}, "pc_ci_half": 0.03, "pw_ci_half": 0.04, "ths_ci_half": 0.05}
    baseline = {"tolerance": {"pc": 0.2, "pw": 0.02}}
    assert tolerance_of(baseline, brow, "pc") == 0.1
    assert tolerance_of(baseline, brow, "pw") == 0.02
    assert tolerance_of(baseline, brow, "ths") == 0.05
    assert tolerance_of(baseline, brow, "truthfulness") == 0.0
    assert tolerance_of({}, {}, "pc") == 0.0


def test_ci_half_width_tolerates_noise_but_not_a_real_drop(rows):
    baseline = make_baseline(rows, ci_half={("tiny", "craft", "triviaqa"): {"ths": 0.04}})
    assert baseline["rows"][1]["ths_ci_half"] == 0.04
    noisy, broken = copy.deepcopy(rows), copy.deepcopy(rows)
    noisy[1]["ths"] -= 0.03
    broken[1]["ths"] -= 0.05
    assert not compare(baseline, noisy).failed
    assert compare(baseline, broken).failed
    baseline["rows"][1]["tolerance"] = {"ths": 0.1}            # the row's own tolerance wins
    assert not compare(baseline, broken).failed


def test_duplicate_rows_are_an_error(rows):
    with pytest.raises(ValueError, match="two rows for tiny/craft/triviaqa"):
        compare(make_baseline(rows), rows + [rows[1]])


def test_baseline_from_a_published_leaderboard_takes_ci_half_widths(tmp_path):
    rows = publish([make_run(tmp_path, tasks={"triviaqa": 30})], tmp_path / "pub", n_resamples=100)
    baseline = make_baseline(rows)
    craft = baseline["rows"][2]
    assert craft["method"] == "craft"
    assert craft["ths_ci_half"] == pytest.approx((rows[2]["ths_hi"] - rows[2]["ths_lo"]) / 2)
    # every gated metric has an interval, so none is judged at a tolerance of zero
    assert all(craft.get(f"{m}_ci_half") is not None for m in ("pc", "pw", "ths", "over_refusal", "truthfulness"))
    boot = (rows[2]["over_refusal_hi"] - rows[2]["over_refusal_lo"]) / 2
    assert craft["over_refusal_ci_half"] == pytest.approx(max(boot, wilson_halves(rows[2], rows[0])["over_refusal"]))
    assert not compare(baseline, rows).failed


def test_updated_keeps_tolerances_and_old_ci_half_widths(rows):
    baseline = make_baseline(rows, ci_half={("tiny", "craft", "triviaqa"): {"pc": 0.03}},
                             tolerance={"ths": 0.05})
    baseline["rows"][1]["tolerance"] = {"pw": 0.01}
    new_rows = copy.deepcopy(rows)
    new_rows[1]["pc"] = 0.9
    new = updated(baseline, new_rows)
    assert new["tolerance"] == {"ths": 0.05}
    assert new["rows"][1]["pc"] == 0.9 and new["rows"][1]["tolerance"] == {"pw": 0.01}
    # the old half-width, or the Wilson half-width of Pc 0.9 over 100 questions where that is wider
    assert new["rows"][1]["pc_ci_half"] == pytest.approx(max(0.03, wilson_halves(new_rows[1], None)["pc"]))
    assert not compare(new, new_rows).failed


def test_cli_exit_codes_and_update(tmp_path, rows, capsys):
    results, base = tmp_path / "leaderboard.json", tmp_path / "ci" / "baseline.json"
    write_json(results, rows)
    assert main(["regress", "--baseline", str(base), "--results", str(results)]) == 2   # no baseline yet
    assert "baseline.json" in capsys.readouterr().err
    assert main(["regress", "--baseline", str(base), "--results", str(results), "--update"]) == 0
    assert read_json(base) == make_baseline(rows)
    capsys.readouterr()
    assert main(["regress", "--baseline", str(base), "--results", str(results)]) == 0
    assert "passed" in capsys.readouterr().out

    tampered = copy.deepcopy(rows)
    tampered[1]["pc"] -= 0.1
    write_json(results, tampered)
    assert main(["regress", "--baseline", str(base), "--results", str(results)]) == 1
    out = capsys.readouterr().out
    assert "FAIL worse" in out and "tiny/craft/triviaqa" in out and "-10.00" in out and "FAILED" in out

    data = read_json(base)
    data["tolerance"] = {"pw": 0.5}
    write_json(base, data)
    assert main(["regress", "--baseline", str(base), "--results", str(results), "--update"]) == 0
    rewritten = read_json(base)
    assert rewritten["tolerance"] == {"pw": 0.5} and rewritten["rows"][1]["pc"] == pytest.approx(0.4)
    assert main(["regress", "--baseline", str(base), "--results", str(results)]) == 0

    results.write_text(json.dumps({"rows": []}))
    assert main(["regress", "--baseline", str(base), "--results", str(results)]) == 2


def test_several_results_files_are_gated_together(tmp_path, rows):
    first, second, base = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "baseline.json"
    write_json(first, rows[:2])
    write_json(second, rows[2:])
    assert main(["regress", "--baseline", str(base), "--results", str(first), str(second), "--update"]) == 0
    assert len(read_json(base)["rows"]) == len(rows)
    assert main(["regress", "--baseline", str(base), "--results", str(first), str(second)]) == 0
    assert main(["regress", "--baseline", str(base), "--results", str(first)]) == 1       # the other leg's rows missing


def test_no_gated_share_has_a_tolerance_of_zero():
    """A share at 0% has a point-like bootstrap interval; its tolerance is the Wilson half-width
    (1 refusal in 100 on another machine is not a regression), and the reference's THS and
    over-refusal, 0 by definition, are not gated."""
    rows = [{"model": "m", "method": "init-basic", "task": "t", "n": 100, "pc": 0.4, "pw": 0.6, "pr": 0.0,
             "ths": 0.0, "over_refusal": 0.0, "truthfulness": 0.4},
            {"model": "m", "method": "craft", "task": "t", "n": 100, "pc": 0.4, "pw": 0.6, "pr": 0.0, "ths": 0.0,
             "over_refusal": 0.0, "truthfulness": 0.4, "over_refusal_lo": 0.0, "over_refusal_hi": 0.0}]
    base = make_baseline(rows)
    ref, craft = base["rows"]
    assert "ths" not in ref and "over_refusal" not in ref
    assert craft["over_refusal_ci_half"] == pytest.approx((wilson(0, 40)[1] - 0) / 2)
    assert all(craft[f"{m}_ci_half"] > 0 for m in ("pc", "pw", "pr", "over_refusal", "truthfulness"))
    moved = [dict(rows[0]), dict(rows[1], over_refusal=1 / 40, pr=0.01, truthfulness=0.41)]
    assert not compare(base, moved).failed



def test_a_two_sided_task_fails_a_move_in_the_good_direction_too(rows):
    """A bug can make a method look better (CRaFT's final SFT from the rehearsed model): on the tasks the
    baseline lists under two_sided, a move beyond tolerance either way fails, Pr's included."""
    base = make_baseline(rows, tolerance={"pc": 0.05, "pr": 0.05, "ths": 0.05})
    better = copy.deepcopy(rows)
    better[1]["pc"] += 0.1
    better[1]["ths"] += 0.1
    assert not compare(base, better).failed                   # one-sided: an improvement is reported
    base["two_sided"] = ["triviaqa"]
    verdicts = _verdicts(compare(base, better))
    assert verdicts[("craft", "pc")] == "moved" and verdicts[("craft", "ths")] == "moved"
    assert compare(base, better).failed
    pr_only = copy.deepcopy(rows)
    pr_only[1]["pr"] += 0.1
    assert _verdicts(compare(base, pr_only))[("craft", "pr")] == "moved"
    within = copy.deepcopy(rows)
    within[1]["pc"] += 0.04
    assert not compare(base, within).failed
    other_task = copy.deepcopy(rows)
    other_task[2]["pc"] += 0.1                                  # mmlu is not two-sided
    assert not compare(base, other_task).failed


def test_training_set_rows_are_gated_in_both_directions():
    ts = {"model": "tiny", "method": "craft", "task": "train:triviaqa", "van_certainty": 0.8,
          "van_certainty_lo": 0.75, "van_certainty_hi": 0.85, "idk_refusal": 1.0, "idk_refusal_lo": 0.9,
          "idk_refusal_hi": 1.0}
    base = make_baseline([ts])
    row = base["rows"][0]
    assert row["van_certainty_ci_half"] == pytest.approx(0.05) and "pc" not in row
    for metric, value, failed in (("van_certainty", 0.86, True), ("van_certainty", 0.74, True),
                                  ("van_certainty", 0.84, False), ("idk_refusal", 0.0, True)):
        assert compare(base, [dict(ts, **{metric: value})]).failed is failed, (metric, value)


def test_measured_spread_widens_a_tolerance_and_survives_an_update(rows):
    """`variation` (other training seeds, other kernels): each metric's largest distance from the
    baseline row becomes its spread, the tolerance is the larger of spread and CI half-width, and an
    update without new variation keeps the measured spreads and the file's two_sided list."""
    seed1 = [dict(rows[1], method="craft@seed1", pc=0.58), dict(rows[1], method="craft@seed2", pc=0.45)]
    base = make_baseline(rows, variation=seed1)
    craft = next(r for r in base["rows"] if r["method"] == "craft")
    assert craft["pc_spread"] == pytest.approx(0.08)
    assert tolerance_of(base, craft, "pc") == pytest.approx(max(2 * 0.08, craft["pc_ci_half"]))
    wide = dict(craft, pc_ci_half=0.01)
    assert tolerance_of(base, wide, "pc") == pytest.approx(0.16)
    base["two_sided"] = ["triviaqa"]
    again = updated(base, rows)
    assert again["two_sided"] == ["triviaqa"]
    assert next(r for r in again["rows"] if r["method"] == "craft")["pc_spread"] == pytest.approx(0.08)
    fresh = updated(base, rows, variation=[])
    assert "pc_spread" not in next(r for r in fresh["rows"] if r["method"] == "craft")
