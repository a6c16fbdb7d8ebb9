"""`harness leaderboard analyse` on a synthetic run: the figures come from the run's files."""
import json
import random

import pytest
from synthetic_runs import make_run

from harness import layout
from harness.cli import main
from harness.io import write_json, write_jsonl
from harness.publish import publish


@pytest.fixture
def run(tmp_path):
    run_dir = make_run(tmp_path / "results", tasks={"triviaqa": 30})
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["config"]["preset"]["open"] = {"n_samples": 3, "tau_lo": 0.49, "tau_hi": 0.51}
    write_json(run_dir / "config.json", cfg)
    rng = random.Random(0)
    table = [{"id": f"p{i}", "correctness": rng.choice([0, 0, 0, 1 / 3, 2 / 3, 1]), "certainty": rng.random()}
             for i in range(60)]
    write_jsonl(run_dir / layout.query("open") / layout.KNOWLEDGE, table)
    write_jsonl(run_dir / layout.query("open", True) / layout.KNOWLEDGE,
                [{**r, "correctness": min(1, r["correctness"] + (1 / 3 if i % 4 == 0 else 0))} for i, r in enumerate(table)])
    van = [r["id"] for r in table if r["correctness"] > 0.5][:4]
    idk = [r["id"] for r in table if r["correctness"] < 0.5][:6]
    build = run_dir / layout.build("open", "craft")
    write_jsonl(build / layout.SELECTION, [{"id": i, "label": "vanilla"} for i in van] + [{"id": i, "label": "idk"} for i in idk])
    write_json(build / layout.MANIFEST, {"n_vanilla": 4, "n_idk": 6, "n_van_asked": 4, "n_idk_asked": 6,
                                         "n_van_candidates": 9, "n_idk_candidates": 30,
                                         "shortfall": {"vanilla": 0, "idk": 0}})
    write_json(run_dir / layout.crss("open", "craft") / layout.CRSS, {"crss": 0.25})
    publish([run_dir], tmp_path / "pub", n_resamples=20)
    return run_dir, tmp_path / "pub", table, van, idk


def test_analysis_page_and_summary_are_computed_from_the_run(run, capsys):
    run_dir, pub, table, van, idk = run
    assert main(["leaderboard", "analyse", str(run_dir), "--published", str(pub)]) == 0
    summary = json.loads((pub / "analysis.json").read_text())
    craft = summary[0]["methods"]["craft"]
    by_id = {r["id"]: r for r in table}
    assert summary[0]["pool"] == 60 and summary[0]["flow_questions"] == 60
    assert craft["vanilla_mu"] == pytest.approx(sum(by_id[i]["correctness"] for i in van) / 4)
    assert craft["idk_sigma"] == pytest.approx(sum(by_id[i]["certainty"] for i in idk) / 6)
    assert craft["crss"] == 0.25
    for stem in ("open_knowledge", "open_flow", "open_selection", "crss", "over_refusal"):
        assert (pub / "plots" / f"{stem}.png").stat().st_size > 1000, stem
    md = (pub / "analysis.md").read_text()
    assert "| OEQA | craft | 4 (4, 9) | 6 (6, 30) | 0/0 |" in md and "| 25.0 |" in md
    page = (pub / "analysis.html").read_text()
    assert page.count("data:image/png;base64,") == 5


def test_analysis_needs_a_published_leaderboard(run, tmp_path, capsys):
    run_dir, *_ = run
    assert main(["leaderboard", "analyse", str(run_dir), "--published", str(tmp_path / "nowhere")]) == 2
    assert "publish the run first" in capsys.readouterr().err
