"""`harness leaderboard publish` on synthetic run directories: tables, CIs, plots, the HTML page."""
import base64
import csv
import json
import re

import pytest
from support.synthetic import make_run, write_records

from harness.cli import main
from harness.reporting.leaderboard import PUBLISH_COLUMNS
from harness.reporting.publish import discover, publish
from harness.run.io import write_json

CI = r"-?\d+\.\d \[-?\d+\.\d, -?\d+\.\d\]"


@pytest.fixture
def published(tmp_path):
    run_dir = make_run(tmp_path / "results")
    # a stale top-level leaderboard must not leak into the published figures
    write_json(tmp_path / "results" / "leaderboard.json", [{"bogus": True}])
    rows = publish([run_dir], tmp_path / "pub", n_resamples=200, seed=0)
    return tmp_path / "pub", rows


def _tables(md: str, first: str = "| model") -> dict[str, list[str]]:
    """Task -> the body lines of its table whose header starts with `first` (the leaderboard's, or
    "| method | vs" for the paired differences)."""
    out, task, inside = {}, None, False
    for line in md.splitlines():
        if line.startswith("## "):
            task, inside = line[3:], False
            out[task] = []
        elif task and line.startswith("| "):
            inside = inside if not line.startswith(("| model", "| method | vs")) else line.startswith(first)
            if inside and not line.startswith(first):
                out[task].append(line)
        else:
            inside = False if not line.startswith("|") else inside
    return out


def test_publish_rows_are_recomputed_from_records_with_cis(published):
    out, rows = published
    assert [(r["task"], r["method"]) for r in rows] == [
        (t, m) for t in ("triviaqa", "mmlu") for m in ("init-basic", "init-refuse", "craft")]
    for r in rows:
        assert set(r) == set(PUBLISH_COLUMNS)
        assert r["run"] == "aaaaaaaaaaaa" and r["model"] == "tiny-model" and r["preset"] == "smoke"
        assert r["harness"] == "0.1.0"
        for m in ("pc", "pw", "pr", "ths"):
            assert r[f"{m}_lo"] <= r[m] <= r[f"{m}_hi"]
    assert json.loads((out / "leaderboard.json").read_text()) == rows
    with open(out / "leaderboard.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == PUBLISH_COLUMNS and len(table) == len(rows)
    assert float(table[2]["ths_hi"]) == pytest.approx(rows[2]["ths_hi"])


def test_markdown_has_one_table_per_task_with_cis_and_the_best_ths_in_bold(published):
    out, rows = published
    md = (out / "leaderboard.md").read_text()
    tables = _tables(md)
    assert list(tables) == ["triviaqa", "mmlu"]
    for task, lines in tables.items():
        assert len(lines) == 3
        task_rows = [r for r in rows if r["task"] == task]
        best = max(task_rows, key=lambda r: r["ths"])
        bold = [line for line in lines if "**" in line]
        assert len(bold) == 1 and f"| {best['method']} |" in bold[0]
        cells = [c.strip() for c in bold[0].strip("|").split("|")]
        assert cells[2] == ""                                # seed: none for an untrained method
        assert re.fullmatch(rf"\*\*{CI}\*\*", cells[8])
        assert all(re.fullmatch(CI, c) for c in cells[4:7])
        assert re.fullmatch(r"\d+\.\d", cells[7])                # the unparsed share
        assert cells[8] == f"**{100 * best['ths']:.1f} [{100 * best['ths_lo']:.1f}, {100 * best['ths_hi']:.1f}]**"
    assert "harness 0.1.0" in md and "`aaaaaaaaaaaa`" in md and "200 resamples" in md
    assert "plots/triviaqa_ths_plane.svg" in md


def test_plots_exist_as_png_and_svg(published):
    out, _ = published
    for task in ("triviaqa", "mmlu"):
        for kind in ("ths_plane", "bars"):
            png = (out / "plots" / f"{task}_{kind}.png").read_bytes()
            svg = (out / "plots" / f"{task}_{kind}.svg").read_text()
            assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
            assert "<svg" in svg and "init-refuse" in svg      # labels kept as text
    assert "THS = 0" in (out / "plots" / "triviaqa_ths_plane.svg").read_text()


def test_html_is_self_contained_with_rows_plots_and_sorting(published):
    out, rows = published
    page = (out / "index.html").read_text()
    assert page.count('<table class="leaderboard sortable">') == 2
    assert page.count("<tr><td") == len(rows) + 2 * 1       # + per task: init-refuse against craft
    assert page.count('<table class="comparisons">') == 2
    assert 'data-sort="init-refuse">init-refuse</td>' in page
    imgs = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)">', page)
    assert [alt for alt, _ in imgs] == ["triviaqa: THS plane", "triviaqa: Pc, Pw, Pr by method",
                                        "mmlu: THS plane", "mmlu: Pc, Pw, Pr by method"]
    assert base64.b64decode(imgs[0][1]) == (out / "plots" / "triviaqa_ths_plane.png").read_bytes()
    assert "<script>" in page and "addEventListener(\"click\"" in page and "<style>" in page
    assert not re.search(r'(src|href)="(https?:|//)', page)            # nothing fetched
    assert page.count('class="best"') == 2
    assert "aaaaaaaaaaaa" in page and "harness 0.1.0" in page


def test_publish_merges_runs_and_names_each(tmp_path):
    a = make_run(tmp_path, "aaaaaaaaaaaa", model="tiny-model", tasks={"triviaqa": 30})
    b = make_run(tmp_path, "bbbbbbbbbbbb", model="other-model", tasks={"triviaqa": 30, "mmlu": 20}, seed=1)
    rows = publish([a, b, a], tmp_path / "pub", n_resamples=50)       # a run given twice counts once
    assert [(r["run"], r["task"]) for r in rows].count(("aaaaaaaaaaaa", "triviaqa")) == 3
    assert {r["model"] for r in rows if r["task"] == "mmlu"} == {"other-model"}
    md = (tmp_path / "pub" / "leaderboard.md").read_text()
    assert "| preset | run |" in md and "`bbbbbbbbbbbb`" in md
    assert len(_tables(md)["triviaqa"]) == 6
    assert (tmp_path / "pub" / "plots" / "mmlu_bars.svg").exists()


def test_discover_orders_tasks_and_methods_like_the_registries(tmp_path):
    run_dir = make_run(tmp_path, tasks={"mmlu": 20, "triviaqa": 20})
    assert discover(run_dir) == [(m, t) for t in ("triviaqa", "mmlu")
                                 for m in ("init-basic", "init-refuse", "craft")]


def test_publish_without_the_reference_or_records_is_an_error(tmp_path, capsys):
    run_dir = make_run(tmp_path, methods=("craft",), tasks={"triviaqa": 20})
    write_records(run_dir, "craft", "nq", ["correct"] * 20)
    with pytest.raises(ValueError, match="task nq has no init-basic"):
        publish([run_dir], tmp_path / "pub", n_resamples=10)
    assert main(["leaderboard", "publish", str(tmp_path), "--out", str(tmp_path / "pub")]) == 2
    assert "is not a run directory: no config.json" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    write_json(tmp_path / "empty" / "config.json", {"config": {}})
    assert main(["leaderboard", "publish", str(tmp_path / "empty"), "--out", str(tmp_path / "pub")]) == 2
    assert "no eval/<method>/<task>/records.jsonl" in capsys.readouterr().err


def test_cli_publish(tmp_path, capsys):
    run_dir = make_run(tmp_path, tasks={"triviaqa": 20})
    out = tmp_path / "pub"
    assert main(["leaderboard", "publish", str(run_dir), "--out", str(out), "--resamples", "50",
                 "--seed", "1"]) == 0
    assert "published 3 rows (triviaqa)" in capsys.readouterr().out
    assert "50 resamples, seed 1" in (out / "leaderboard.md").read_text()
    assert {p.name for p in out.iterdir()} == {"leaderboard.md", "leaderboard.csv", "leaderboard.json",
                                               "comparisons.csv", "comparisons.json",
                                               "index.html", "plots"}
    assert main(["leaderboard", "publish", str(run_dir), "--out", str(out), "--resamples", "0"]) == 2


def test_comparisons_are_the_paired_bootstrap_of_the_records(published, tmp_path):
    from harness.reporting.leaderboard import diff_text
    from harness.run.io import read_jsonl
    from harness.scoring.stats import paired_bootstrap
    out, _ = published
    comps = json.loads((out / "comparisons.json").read_text())
    assert [(c["task"], c["method"], c["reference"]) for c in comps] == [
        ("triviaqa", "init-refuse", "craft"), ("mmlu", "init-refuse", "craft")]   # rait: not in the run
    run = tmp_path / "results" / "runs" / "aaaaaaaaaaaa"
    recs = [read_jsonl(run / "eval" / m / "triviaqa" / "records.jsonl") for m in ("init-refuse", "craft", "init-basic")]
    for metric in ("ths", "pc", "pw", "over_refusal"):
        want = paired_bootstrap(*recs, metric, n_resamples=200, seed=0)
        got = comps[0]
        assert (got[f"{metric}_diff"], got[f"{metric}_lo"], got[f"{metric}_hi"], got[f"{metric}_p"]) == (
            want["diff"], want["lo"], want["hi"], want["p_value"])
    md = (out / "leaderboard.md").read_text()
    line = _tables(md, "| method | vs")["triviaqa"][0]
    assert line.startswith("| init-refuse | craft | " + diff_text(comps[0], "ths"))
    assert re.search(r"[+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\] p=\d\.\d\d", line)
    with open(out / "comparisons.csv") as f:
        assert len(list(csv.DictReader(f))) == 2


def test_shortfall_and_untrained_are_flagged_in_every_table(tmp_path, capsys):
    from harness.reporting.leaderboard import markdown, print_table
    run_dir = make_run(tmp_path / "results", tasks={"triviaqa": 20})
    write_json(run_dir / "open" / "craft" / "build" / "manifest.json",
               {"n_vanilla": 0, "n_idk": 0, "shortfall": {"vanilla": 40, "idk": 10}})
    write_json(run_dir / "open" / "craft" / "train" / "train.json", {"mode": "none", "examples": 0})
    rows = publish([run_dir], tmp_path / "pub", n_resamples=20)
    craft = next(r for r in rows if r["method"] == "craft")
    assert craft["untrained"] is True and (craft["shortfall_van"], craft["shortfall_idk"]) == (40, 10)
    assert next(r for r in rows if r["method"] == "init-refuse")["untrained"] is None
    md = (tmp_path / "pub" / "leaderboard.md").read_text()
    craft_line = next(line for line in _tables(md)["triviaqa"] if "| craft |" in line)
    assert "| 40/10 | UNTRAINED (empty training set: scores are M0's) |" in craft_line
    assert "UNTRAINED: craft" in _tables(md, "| method | vs")["triviaqa"][0]
    page = (tmp_path / "pub" / "index.html").read_text()
    assert "UNTRAINED (empty training set" in page and ">40/10</td>" in page
    assert "UNTRAINED" in markdown(rows) and "40/10" in markdown(rows)
    print_table(rows)
    terminal = capsys.readouterr().out
    assert "UNTRAINED" in terminal and "40/10" in terminal


def test_every_table_accounts_for_unparsed_answers(capsys):
    """Half of craft's MCQA answers have no letter: every table shows the unparsed share beside Pc/Pw/Pr
    (so the row adds up to 100%), flags the row, and the terminal warns."""
    from harness.reporting import leaderboard as lb
    base = {"model": "m", "seed": None, "task": "mmlu", "n": 4, "ths": None, "over_refusal": None,
            "truthfulness": 0.0, "preset": "smoke", "run": "h"}
    rows = [dict(base, method="init-basic", pc=0.5, pw=0.5, pr=0.0, pu=0.0, unparsed=0),
            dict(base, method="craft", pc=0.0, pw=0.5, pr=0.0, pu=0.5, unparsed=2)]
    md = lb.markdown(rows)
    assert "| Pr | unparsed |" in md and "| 0.0 | 50.0 | 0.0 | 50.0 |" in md and "50.0% unparsed" in md
    published = lb.publish_markdown(rows, "footer")
    assert "| Pr | unparsed |" in published and "50.0% unparsed" in published
    lb.print_table(rows)
    out = capsys.readouterr().out
    assert "unpars" in out and "warning: craft on mmlu: 2 of 4 answers (50.0%)" in out
    assert "outside Pc, Pw and Pr" in out and "init-basic on mmlu" not in out
    lb.print_table([dict(rows[0], empty=3)])
    assert "3 of 4 answers are empty" in capsys.readouterr().out


def test_the_bars_plot_stacks_the_unparsed_share_and_shows_n():
    from harness.reporting.plots import bars
    rows = [{"model": "m", "method": m, "seed": None, "task": "mmlu", "n": 4, "pc": pc, "pw": 0.5, "pr": 0.0, "pu": pu,
             "run": "h"} for m, pc, pu in (("init-basic", 0.5, 0.0), ("craft", 0.0, 0.5))]
    ax = bars("mmlu", rows).axes[0]
    tops = [p.get_y() + p.get_height() for p in ax.patches]
    assert max(tops) == pytest.approx(100.0)                     # every answer accounted for
    assert "unparsed" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert all("n=4" in t.get_text() for t in ax.get_xticklabels())


def test_over_refusal_shows_the_questions_it_rests_on():
    from harness.reporting.leaderboard import cell_text
    r = {"over_refusal": 1.0, "over_refusal_k": 1, "over_refusal_den": 1}
    assert cell_text(r, "over_refusal") == "100.0 (1/1)"
    assert cell_text({"over_refusal": 0.5}, "over_refusal") == "50.0"     # an unpublished row: no counts
