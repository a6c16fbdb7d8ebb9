"""`harness leaderboard analyse` on a synthetic run: the figures come from the run's files."""
import json
import random

import pytest
from support.synthetic import make_run

from harness.cli import main
from harness.reporting.publish import publish
from harness.run import layout
from harness.run.io import write_json, write_jsonl


@pytest.fixture
def run(tmp_path):
    run_dir = make_run(tmp_path / "results", tasks={"triviaqa": 30})
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["config"]["preset"]["open"] = {"n_samples": 3, "tau_lo": 0.49, "tau_hi": 0.51, "keep_zero_flow": False,
                                       "n_van": 4, "n_idk": 3,
                                       "rehearsal_size": 5, "rehearsal_min_correctness": 0.995,
                                       "rehearsal_min_certainty": 0.995}
    write_json(run_dir / "config.json", cfg)
    rng = random.Random(0)
    table = [{"id": f"p{i}", "correctness": rng.choice([0, 0, 1 / 3, 1 / 3, 2 / 3, 1]), "certainty": rng.random()}
             for i in range(60)]
    write_jsonl(run_dir / layout.pool("open") / layout.ITEMS,
                [{"id": r["id"], "question": f"Question {r['id']}?", "answer": "gold"} for r in table])
    write_jsonl(run_dir / layout.query("open") / layout.KNOWLEDGE, table)
    after = [{**r, "correctness": max(0, r["correctness"] - (1 / 3 if i % 3 == 0 else 0))} for i, r in enumerate(table)]
    write_jsonl(run_dir / layout.query("open", True) / layout.KNOWLEDGE, after)
    rehearsed = sorted(table, key=lambda r: (-r["correctness"], -r["certainty"]))[:5]
    write_jsonl(run_dir / layout.rehearse("open") / layout.SFT_DATA, [{"id": r["id"]} for r in rehearsed])
    from harness.methods import METHODS

    from harness.knowledge import construct
    from harness.knowledge.query import with_flow
    sel = construct.apply(METHODS["craft"].select, "flow", with_flow(table, after),
                          construct.Params(construct.OEQA_THRESHOLDS, 4, 3), seed=0)
    van = [r["id"] for r in sel.rows if r["label"] == "vanilla"]
    idk = [r["id"] for r in sel.rows if r["label"] == "idk"]
    build = run_dir / layout.build("open", "craft")
    construct.write_selection(sel, build / layout.SELECTION)
    write_json(build / layout.MANIFEST, sel.to_manifest())
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
    assert craft["vanilla_mu"] == pytest.approx(sum(by_id[i]["correctness"] for i in van) / len(van))
    assert craft["idk_sigma"] == pytest.approx(sum(by_id[i]["certainty"] for i in idk) / len(idk))
    assert craft["crss"] == 0.25
    rehearsal = summary[0]["rehearsal"]       # 5 rehearsed, none at mu 1 with sigma >= 0.995: the fallback
    assert rehearsal["picked"] == 5 and rehearsal["fallback"] and rehearsal["meet_thresholds"] < 5
    for stem in ("open_knowledge", "open_flow", "open_selection", "crss", "over_refusal"):
        assert (pub / "plots" / f"{stem}.png").stat().st_size > 1000, stem
    md = (pub / "analysis.md").read_text()
    man = json.loads((run_dir / "open" / "craft" / "build" / "manifest.json").read_text())
    assert (f"| OEQA | craft | {len(van)} (4, {man['n_van_candidates']}) | {len(idk)} (3, {man['n_idk_candidates']})"
            in md) and "| 25.0 |" in md and "the fallback filled the rest" in md
    page = (pub / "analysis.html").read_text()
    assert page.count("data:image/png;base64,") == 5


def test_the_joined_knowledge_table_says_why_and_feeds_harness_construct(run, tmp_path):
    run_dir, pub, table, van, idk = run
    assert main(["leaderboard", "analyse", str(run_dir), "--published", str(pub)]) == 0
    rows = [json.loads(line) for line in (pub / "knowledge_table.open.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in table]
    by = {r["id"]: r for r in rows}
    # why: the method's own rule, run as the build ran it (its candidates), not a copy of it
    assert all(by[i]["craft"] == "vanilla" and by[i]["craft_why"].startswith("vanilla candidate by the method's rule")
               and by[i]["craft_why"].endswith(", selected") for i in van)
    assert all(by[i]["craft"] == "idk" and by[i]["craft_why"].startswith("idk candidate by the method's rule")
               for i in idk)
    dropped = [r for r in rows if r["correctness"] < 0.49 and r["flow"] >= 0]
    assert dropped and all("not an idk candidate" in r["craft_why"] and r["craft"] == "" for r in dropped)
    known = [r for r in rows if r["correctness"] >= 0.51 and r["id"] not in van]
    assert known and all(r["craft_why"].startswith("vanilla candidate by the method's rule")
                         and r["craft_why"].endswith(", not selected") for r in known)
    assert all(r["question"] == f"Question {r['id']}?" and r["answer"] == "gold" for r in rows)
    assert (pub / "knowledge_table.open.csv").read_text().startswith("id,question,answer,correctness,certainty")
    # fed back to `harness construct`, the same rule on the same seed picks the same rows
    out = tmp_path / "again.jsonl"
    assert main(["construct", "--method", "craft", "--knowledge", str(pub / "knowledge_table.open.jsonl"),
                 "--n-van", "4", "--n-idk", "3", "--out", str(out)]) == 0
    assert out.read_text() == (run_dir / "open" / "craft" / "build" / "selection.jsonl").read_text()


def test_a_selection_todays_rule_does_not_give_is_not_explained_by_it(run):
    """A build written by another version of the rule: its rows are shown as selected, without a why
    the rule of today would give (the explanation is the method's select, so it cannot disagree)."""
    run_dir, pub, table, van, idk = run
    sel = run_dir / "open" / "craft" / "build" / "selection.jsonl"
    rows = [json.loads(line) for line in sel.read_text().splitlines()]
    sel.write_text("".join(json.dumps(r) + "\n" for r in rows[::-1]))
    assert main(["leaderboard", "analyse", str(run_dir), "--published", str(pub)]) == 0
    by = {json.loads(line)["id"]: json.loads(line) for line in (pub / "knowledge_table.open.jsonl").read_text().splitlines()}
    assert {by[i]["craft_why"] for i in van} == {"selected as vanilla"}
    assert all(r["craft_why"] == "not selected (today's rule gives another selection)" for r in by.values()
               if not r["craft"])


def test_analysis_needs_a_published_leaderboard(run, tmp_path, capsys):
    run_dir, *_ = run
    assert main(["leaderboard", "analyse", str(run_dir), "--published", str(tmp_path / "nowhere")]) == 2
    assert "publish the run first" in capsys.readouterr().err
