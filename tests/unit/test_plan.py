"""`harness plan`: the pilot's analysis on hand-made knowledge tables, and the command end to end
with the fake engine."""
import json
from dataclasses import replace

import pytest

from harness.cli import main
from harness.plan import analyse, expected, histogram, wilson
from harness.run.presets import PRESETS

OPEN = replace(PRESETS["smoke"].open, n_van=4, n_idk=2, n_samples=4)


def rows(mus, cert=0.5):
    return [{"id": f"q{i}", "correctness": mu, "certainty": cert} for i, mu in enumerate(mus)]


def test_wilson_and_scaling():
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and 0.25 < hi < 0.35                    # 0 of 10 does not mean none in the pool
    assert expected(5, 10, 100) == {"pilot": 5, "expected": 50, "lo": 23, "hi": 77}
    assert histogram([0.0, 0.05, 0.5, 1.0, 0.99]) == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]


def test_analysis_predicts_candidates_shortfalls_and_warns():
    # 10 pilot questions of a pool of 100: 3 known (mu 1), 5 unknown (mu 0), 2 at mu 0.5 (neither set)
    table = rows([1.0] * 3 + [0.0] * 5 + [0.5] * 2)
    r = analyse(table, OPEN, 100, ["init-basic", "rait", "craft", "van-tuning"], "open")
    assert r["candidates"]["vanilla"]["expected"] == 30 and r["candidates"]["idk"]["expected"] == 50
    assert r["correctness_histogram"] == [5, 0, 0, 0, 0, 2, 0, 0, 0, 3]
    assert r["methods"]["rait"]["shortfall"] == {"vanilla": 0, "idk": 0}
    assert r["methods"]["van-tuning"]["candidates"] == {"vanilla": 100, "idk": 0}
    assert "flow filter" in r["methods"]["craft"]["note"] and "init-basic" not in r["methods"]
    assert any("2 of 10 pilot questions (20%) have mu between" in w and "mu = 0.5 is possible" in w
               for w in r["warnings"])
    assert not any("fewer than twice" in w for w in r["warnings"])       # 30 >= 2 x 4, 50 >= 2 x 2


def test_a_degenerate_configuration_is_flagged():
    table = rows([0.0] * 9 + [1.0])                  # 1 known of 10: ~10 vanilla candidates for 40 asked
    r = analyse(table, replace(OPEN, n_van=40, n_idk=10), 100, ["rait"], "open")
    assert r["methods"]["rait"]["shortfall"] == {"vanilla": 30, "idk": 0}
    assert any("rait: ~10 vanilla candidates for 40 drawn (fewer than twice)" in w for w in r["warnings"])
    empty = analyse(rows([0.5] * 4), OPEN, 100, ["rait"], "open")
    assert any("no candidate at all" in w and "UNTRAINED" in w for w in empty["warnings"])


def test_plan_command_with_the_fake_engine(tmp_path, capsys):
    from support.scripted import write_data
    data = write_data(tmp_path / "data")
    (data / "triviaqa" / "train.jsonl").write_text((data / "triviaqa" / "validation.jsonl").read_text())
    script = tmp_path / "s.json"          # knows two of the four questions (gold: Paris)
    script.write_text(json.dumps({"rules": [{"when": ["Capital of France|Paris is in"], "answer": "Paris"}],
                                  "default": "Lyon"}))
    out = tmp_path / "plan.json"
    assert main(["plan", "--engine", "fake", "--model", str(script), "--methods", "craft,rait", "--tasks", "triviaqa",
                 "--preset", "tiny", "--data-dir", str(data), "--sample", "4", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "open: pool 4, pilot 4" in text and "vanilla candidates: 2 of 4 in the pilot" in text
    assert "SFT not measured (the engine has no model to train)" in text and "total: ~" in text
    plan = json.loads(out.read_text())
    assert plan["domains"]["open"]["candidates"]["idk"]["pilot"] == 2
    with pytest.raises(SystemExit):
        main(["plan", "--sample"])


def test_the_flow_methods_idk_set_is_bounded_by_the_questions_that_can_fall():
    """At mu = 0 the rehearsed correctness cannot fall (the OEQA code keeps d_mu < 0 only), so craft's
    idk candidates are at most the idk questions with mu > 0: here 2 of 10, ~20 of 100, for 12 asked."""
    table = rows([1.0] * 3 + [0.0] * 5 + [0.25] * 2)
    r = analyse(table, replace(OPEN, n_idk=12), 100, ["rait", "craft"], "open")
    assert r["methods"]["rait"]["candidates"]["idk"] == 70
    assert r["methods"]["craft"]["candidates"]["idk"] == 20 and "can fall" in r["methods"]["craft"]["note"]
    assert any("craft: ~20 idk candidates for 12 drawn (fewer than twice)" in w for w in r["warnings"])
    kept = analyse(table, replace(OPEN, n_idk=12, keep_zero_flow=True), 100, ["craft"], "open")
    assert kept["methods"]["craft"]["candidates"]["idk"] == 70      # the MCQA code keeps d_mu == 0 too


def test_the_idk_family_is_planned_with_its_own_split():
    """Idk-SFT keeps a question only if every sample is right: on a pilot of 10 with mu 1.0, 0.75, 0.75,
    0.75 and 0 x 6, the correctness sets give 4 vanilla candidates per 10, Idk's own rule 1 (a geo study
    at 40 drawn fell 3 short where the old stand-in predicted none)."""
    table = [{**r, "samples": ["a"] * 4} for r in rows([1.0, 0.75, 0.75, 0.75] + [0.0] * 6)]
    r = analyse(table, replace(OPEN, n_van=6), 100, ["rait", "idk-sft", "honesty-absolute"], "open")
    assert r["methods"]["rait"]["candidates"] == {"vanilla": 40, "idk": 60}
    assert r["methods"]["idk-sft"]["candidates"] == {"vanilla": 10, "idk": 90}
    assert "own split" in r["methods"]["idk-sft"]["note"]
    assert r["methods"]["honesty-absolute"]["candidates"]["vanilla"] == 40       # any right sample
    assert any(w.startswith("idk-sft: ~10 vanilla candidates for 6 drawn") for w in r["warnings"])
    assert not any(w.startswith("rait:") for w in r["warnings"])
