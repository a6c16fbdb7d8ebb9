"""Bootstrap CIs of leaderboard rows and the paired bootstrap, on synthetic run directories."""
import pytest
from support.synthetic import make_run, write_records

from harness.reporting.leaderboard import row
from harness.run.io import read_jsonl, write_jsonl
from harness.scoring.metrics import summarize, wilson
from harness.scoring.stats import CI_METRICS, ci_rows, paired_bootstrap


def _rows(run_dir, task="triviaqa", methods=("init-basic", "init-refuse", "craft")):
    return [row(run_dir, "tiny-model", "smoke", m, task, "open", "init-basic") for m in methods]


def _records(run_dir, method, task="triviaqa"):
    return read_jsonl(run_dir / "eval" / method / task / "records.jsonl")


def test_ci_rows_bracket_the_point_and_keep_the_row(tmp_path):
    run_dir = make_run(tmp_path)
    rows = _rows(run_dir)
    out = ci_rows(run_dir, rows, n_resamples=300, seed=0)
    for plain, r in zip(rows, out):
        assert {k: r[k] for k in plain} == plain                  # the row itself is unchanged
        for m in CI_METRICS:
            assert r[f"{m}_lo"] <= r[m] <= r[f"{m}_hi"], (r["method"], m)
    craft = out[2]
    assert craft["pw_hi"] - craft["pw_lo"] > 0 and craft["ths_hi"] > craft["ths_lo"]
    # init-basic is its own reference: THS is 0 in every resample
    assert (out[0]["ths_lo"], out[0]["ths_hi"]) == (0.0, 0.0)


def test_ci_rows_are_deterministic_for_a_seed_and_vary_across_seeds(tmp_path):
    run_dir = make_run(tmp_path)
    rows = _rows(run_dir)
    a = ci_rows(run_dir, rows, n_resamples=200, seed=3)
    assert a == ci_rows(run_dir, rows, n_resamples=200, seed=3)
    assert a != ci_rows(run_dir, rows, n_resamples=200, seed=4)


def test_ci_rows_align_by_question_id_not_by_line(tmp_path):
    run_dir = make_run(tmp_path)
    shuffled = list(reversed(_records(run_dir, "craft")))
    write_jsonl(run_dir / "eval" / "craft-reversed" / "triviaqa" / "records.jsonl", shuffled)
    rows = _rows(run_dir, methods=("craft", "craft-reversed"))
    a, b = ci_rows(run_dir, rows, n_resamples=50, seed=0)
    assert a["ths"] == b["ths"]                                   # same pairs, so same point


def test_ci_rows_honest_when_every_answer_is_the_same(tmp_path):
    """25 of 25 right is not certainty: the shares get Wilson intervals, which a percentile bootstrap
    (every resample 25/25) would collapse to [100, 100]."""
    run_dir = make_run(tmp_path, methods=())
    for m in ("init-basic", "init-refuse"):
        write_records(run_dir, m, "triviaqa", ["correct"] * 25)
    (r0, r1) = ci_rows(run_dir, _rows(run_dir, methods=("init-basic", "init-refuse")), n_resamples=100)
    assert (r1["pc_lo"], r1["pc"], r1["pc_hi"]) == (pytest.approx(wilson(25, 25)[0]), 1.0, 1.0)
    assert r1["pc_lo"] == pytest.approx(0.8668, abs=1e-4)
    assert (r1["pw_lo"], r1["pr_lo"]) == (0.0, 0.0) and r1["pw_hi"] == pytest.approx(1 - 0.8668, abs=1e-4)
    assert (r1["over_refusal_k"], r1["over_refusal_den"]) == (0, 25)
    # the reference never errs: THS is undefined, and so is its interval
    assert r1["ths"] is None and (r1["ths_lo"], r1["ths_hi"]) == (None, None)


def test_small_n_shares_at_0_of_4_and_4_of_4(tmp_path):
    """At n = 4 a bootstrap prints 100.0 [100.0, 100.0]; Wilson gives 0/4 -> [0, 49.0] and 4/4 ->
    [51.0, 100], and over-refusal's denominator (the reference's right answers) is in the row."""
    run_dir = make_run(tmp_path, methods=(), tasks={"triviaqa": 4})
    write_records(run_dir, "init-basic", "triviaqa", ["correct", "correct", "wrong", "wrong"])
    write_records(run_dir, "init-refuse", "triviaqa", ["refused"] * 4)
    _, r = ci_rows(run_dir, _rows(run_dir, methods=("init-basic", "init-refuse")), n_resamples=100)
    assert (r["pc_lo"], r["pc_hi"]) == pytest.approx((0.0, 0.4899), abs=1e-4)
    assert (r["pr_lo"], r["pr_hi"]) == pytest.approx((0.5101, 1.0), abs=1e-4)
    assert r["over_refusal"] == 1.0 and (r["over_refusal_k"], r["over_refusal_den"]) == (2, 2)
    assert (r["over_refusal_lo"], r["over_refusal_hi"]) == pytest.approx(wilson(2, 2))


def test_ci_rows_missing_reference_question_is_an_error(tmp_path):
    run_dir = make_run(tmp_path, tasks={"triviaqa": 20})
    records = _records(run_dir, "craft")
    records[0]["id"] = "not-in-reference"
    write_jsonl(run_dir / "eval" / "craft" / "triviaqa" / "records.jsonl", records)
    with pytest.raises(ValueError, match="no aligned record"):
        ci_rows(run_dir, [{"method": "craft", "task": "triviaqa"}], n_resamples=10)


def test_paired_bootstrap_sign_interval_and_p_value(tmp_path):
    run_dir = make_run(tmp_path)
    craft, refuse, base = (_records(run_dir, m) for m in ("craft", "init-refuse", "init-basic"))
    res = paired_bootstrap(craft, refuse, base, "ths", n_resamples=500, seed=0)
    point = (summarize([r["class"] for r in craft], [r["class"] for r in base])["ths"]
             - summarize([r["class"] for r in refuse], [r["class"] for r in base])["ths"])
    assert res["diff"] == pytest.approx(point) and res["diff"] > 0
    assert res["lo"] <= res["diff"] <= res["hi"]
    assert 0 <= res["p_value"] <= 1
    # swapping the methods flips the sign and mirrors the interval, same p-value
    back = paired_bootstrap(refuse, craft, base, "ths", n_resamples=500, seed=0)
    assert back["diff"] == pytest.approx(-res["diff"])
    assert (back["lo"], back["hi"]) == pytest.approx((-res["hi"], -res["lo"]))
    assert back["p_value"] == pytest.approx(res["p_value"])


def test_paired_bootstrap_is_deterministic_and_clear_cut_for_a_dominating_method(tmp_path):
    run_dir = make_run(tmp_path, methods=())
    base = ["correct"] * 15 + ["wrong"] * 15
    write_records(run_dir, "init-basic", "triviaqa", base)
    write_records(run_dir, "good", "triviaqa", ["correct"] * 15 + ["refused"] * 15)
    good, bad = _records(run_dir, "good"), _records(run_dir, "init-basic")
    a = paired_bootstrap(good, bad, bad, "pw", n_resamples=300, seed=7)
    assert a == paired_bootstrap(good, bad, bad, "pw", n_resamples=300, seed=7)
    assert a["diff"] == -0.5 and a["hi"] < 0 and a["p_value"] < 0.01
    same = paired_bootstrap(bad, bad, bad, "pc", n_resamples=50, seed=0)
    assert (same["diff"], same["lo"], same["hi"], same["p_value"]) == (0.0, 0.0, 0.0, 1.0)


def test_paired_bootstrap_rejects_different_questions_and_unknown_metrics(tmp_path):
    run_dir = make_run(tmp_path)
    craft, refuse, base = (_records(run_dir, m) for m in ("craft", "init-refuse", "init-basic"))
    with pytest.raises(ValueError, match="same questions"):
        paired_bootstrap(craft[1:], refuse, base, "pc", n_resamples=10)
    with pytest.raises(ValueError, match="unknown metric"):
        paired_bootstrap(craft, refuse, base, "accuracy", n_resamples=10)


def test_paired_bootstrap_macro_averages_when_records_carry_subjects():
    """Records with a `group` (MMLU subjects under the code's macro average) are compared per
    subject-averaged metric: here a is right on the one-question subject b gets wrong."""
    def recs(classes, groups):
        return [{"id": str(i), "class": c, "group": g} for i, (c, g) in enumerate(zip(classes, groups))]
    groups = ["x", "x", "x", "y"]
    a = recs(["correct", "wrong", "wrong", "correct"], groups)
    b = recs(["correct", "correct", "wrong", "wrong"], groups)
    base = recs(["wrong"] * 4, groups)
    res = paired_bootstrap(a, b, base, "pc", n_resamples=50, seed=0)
    assert res["diff"] == pytest.approx((1 / 3 + 1) / 2 - (2 / 3 + 0) / 2)
    pooled = paired_bootstrap([{k: v for k, v in r.items() if k != "group"} for r in a],
                              [{k: v for k, v in r.items() if k != "group"} for r in b],
                              [{k: v for k, v in r.items() if k != "group"} for r in base], "pc", n_resamples=50)
    assert pooled["diff"] == 0.0
