"""Training-set rows (harness.reporting.trainsets): what a method selected, summarised for the regression gate."""
import json

import pytest

from harness.reporting import regress, trainsets
from harness.reporting.popularity import wilson
from harness.run.io import write_json, write_jsonl

M0 = {"a": {"correctness": 1.0, "certainty": 0.9}, "b": {"correctness": 0.6, "certainty": 0.5},
      "c": {"correctness": 0.2, "certainty": 0.3}, "d": {"correctness": 0.0, "certainty": 0.1}}
REHEARSED = {"a": {"correctness": 1.0}, "b": {"correctness": 0.8}, "c": {"correctness": 0.0},
             "d": {"correctness": 0.0}}
SFT = [{"id": "a", "label": "vanilla", "target": "Paris"}, {"id": "b", "label": "vanilla", "target": "Rome"},
       {"id": "c", "label": "idk", "target": "I don't know"}, {"id": "d", "label": "idk", "target": "Oslo"}]


def test_summary_of_a_hand_made_set():
    s = trainsets.summary(SFT, M0, REHEARSED)
    assert (s["n_van"], s["n_idk"]) == (2, 2)
    assert s["van_correctness"] == pytest.approx(0.8) and s["van_certainty"] == pytest.approx(0.7)
    assert s["idk_correctness"] == pytest.approx(0.1) and s["idk_certainty"] == pytest.approx(0.2)
    assert s["van_flow"] == pytest.approx(0.1) and s["idk_flow"] == pytest.approx(-0.1)
    assert s["van_refusal"] == 0.0 and s["idk_refusal"] == 0.5
    lo, hi = wilson(1, 2)
    assert (s["idk_refusal_lo"], s["idk_refusal_hi"]) == pytest.approx((lo, hi))
    # van certainty 0.9, 0.5: sd 0.283, half 1.96 * 0.283 / sqrt(2) = 0.392
    assert s["van_certainty_hi"] - s["van_certainty"] == pytest.approx(1.959964 * 0.4 / 2 ** 0.5 / 2 ** 0.5, rel=1e-6)
    assert "van_flow" not in trainsets.summary(SFT, M0, None)


def test_a_constant_statistic_still_has_a_tolerance():
    m, lo, hi = trainsets.mean_interval([1.0] * 30)
    assert m == 1.0 and hi - m == pytest.approx(1 / 60)


def _run(tmp_path, sft):
    run = tmp_path / "runs" / "h"
    write_json(run / "config.json", {"config": {"preset": {"open": {"pool_dataset": "triviaqa"},
                                                           "choice": {"pool_dataset": "mmlu"}}}})
    write_jsonl(run / "open/query_m0/knowledge.jsonl", [{"id": k, **v} for k, v in M0.items()])
    write_jsonl(run / "open/craft/build/sft_data.jsonl", sft)
    (run / "open/craft/build/DONE").write_text("")
    return run


def test_rows_of_a_run_and_the_gate_sees_a_planted_selection_bug(tmp_path):
    """CRaFT's vanilla ranked by ascending certainty picks the least certain known questions: the set's
    certainty moves far beyond its interval and the gate fails, though no test metric was computed."""
    good = trainsets.rows(_run(tmp_path / "good", SFT), "tiny", "smoke", ["init-basic", "craft"])
    assert [(r["method"], r["task"], r["domain"]) for r in good] == [("craft", "train:triviaqa", "open")]
    assert "van_flow" not in good[0]                           # no rehearsed table in this run
    base = regress.make_baseline(good)
    assert not regress.compare(base, good).failed
    planted = [dict(SFT[0], id="c"), dict(SFT[1], id="d"), *SFT[2:]]
    bad = trainsets.rows(_run(tmp_path / "bad", planted), "tiny", "smoke", ["craft"])
    report = regress.compare(base, bad)
    assert report.failed and {c.metric for c in report.failures} >= {"van_correctness", "van_certainty"}
    json.dumps(bad)                                            # the file bench writes
