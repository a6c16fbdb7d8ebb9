"""Unit tests of the selection rules: each method file's `select`, composed of harness.knowledge.construct's
blocks, run the way `harness construct` and the build stage run it (construct.apply).

Every expected value below was worked out by hand from the tables in this
file and the rules in the CRaFT paper / SPEC, not copied from a run.
"""
import json
import os
from dataclasses import replace

import pytest
from harness.methods import METHODS, selectors
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.knowledge import construct
from harness.knowledge.construct import (
    OEQA_THRESHOLDS,
    Params,
    Thresholds,
    apply,
    from_tau,
    mcqa,
    read_table,
    validate_table,
    write_selection,
)
from harness.run.presets import PRESETS

# The refusal-aware rules: every registered method that selects from a knowledge table.
METHOD_RULES = tuple(n for n, m in selectors().items() if m.table in ("knowledge", "flow"))


def select(method, table, n_van, n_idk, th, seed=0, keep_zero_flow=False, replace=False):
    m = METHODS[method]
    return apply(m.select, m.table, table, Params(th, n_van, n_idk, keep_zero_flow, replace), seed)

MCQA = from_tau(0.5)
BIG = 1000  # "take every candidate"


def row(id, mu, cert=0.0, reh=None):
    r = {"id": id, "correctness": mu, "certainty": cert}
    if reh is not None:
        r["correctness_rehearsal"] = reh
    return r


def ids(sel, label):
    return [r["id"] for r in sel.rows if r["label"] == label]


# mu exactly on and around the OEQA (0.49 / 0.51) and MCQA (0.5) thresholds.
BOUNDARY = [row("a", 0.0), row("b", 0.49), row("c", 0.5), row("d", 0.51), row("e", 1.0)]


# ---------------------------------------------------------------- thresholds
def test_threshold_constants():
    assert OEQA_THRESHOLDS == Thresholds(0.49, 0.51, True)
    assert from_tau(0.5) == Thresholds(0.5, 0.5, False) == mcqa() == mcqa(0.5)


@pytest.mark.parametrize("lo,hi,inc,bad", [
    (-0.1, 0.5, True, "-0.1"), (0.2, 1.5, True, "1.5"), (0.6, 0.4, True, "0.6"),
    (float("nan"), 0.5, True, "nan"), (0.5, 0.5, True, "0.5")])
def test_threshold_validation(lo, hi, inc, bad):
    with pytest.raises(ValueError, match=bad):
        Thresholds(lo, hi, inc)


# ------------------------------------------------------------ boundaries
@pytest.mark.parametrize("method", ["rait", "corcer-rait"])
def test_oeqa_boundaries(method):
    sel = select(method, BOUNDARY, BIG, BIG, OEQA_THRESHOLDS)
    assert sorted(ids(sel, "vanilla")) == ["d", "e"]      # mu >= 0.51
    assert sorted(ids(sel, "idk")) == ["a", "b"]          # mu <= 0.49; 0.5 in neither
    assert (sel.n_van_candidates, sel.n_idk_candidates) == (2, 2)


@pytest.mark.parametrize("method", ["rait", "corcer-rait"])
def test_mcqa_boundaries(method):
    sel = select(method, BOUNDARY, BIG, BIG, MCQA)
    assert sorted(ids(sel, "vanilla")) == ["c", "d", "e"]  # mu >= 0.5
    assert sorted(ids(sel, "idk")) == ["a", "b"]           # mu < 0.5


def test_tau_051_puts_half_in_idk():
    sel = select("rait", BOUNDARY, BIG, BIG, from_tau(0.51))
    assert sorted(ids(sel, "vanilla")) == ["d", "e"]
    assert sorted(ids(sel, "idk")) == ["a", "b", "c"]


def test_custom_exclusive_band():
    sel = select("rait", BOUNDARY, BIG, BIG, Thresholds(0.49, 0.51, lo_inclusive=False))
    assert sorted(ids(sel, "idk")) == ["a"]                # 0.49 not < 0.49


# ------------------------------------------------------------ certainty order
ORDER = [row("v1", 0.9, 0.2), row("v2", 1.0, 0.8), row("v3", 0.6, 0.5),
         row("v4", 0.7, 0.8), row("i1", 0.1, 0.3), row("i2", 0.0, -0.1),
         row("i3", 0.2, 0.3), row("i4", 0.4, 0.9), row("mid", 0.5, 5.0)]


def test_corcer_rait_order_and_ties():
    sel = select("corcer-rait", ORDER, 3, 3, OEQA_THRESHOLDS)
    # van by certainty desc: v2 .8, v4 .8 (tie: table order), v3 .5 | v1 .2 out
    # idk by certainty asc:  i2 -.1, i1 .3, i3 .3 (tie: table order) | i4 .9 out
    assert [r["id"] for r in sel.rows] == ["v2", "v4", "v3", "i2", "i1", "i3"]
    assert [r["label"] for r in sel.rows] == ["vanilla"] * 3 + ["idk"] * 3
    assert sel.shortfall == {"vanilla": 0, "idk": 0}


def test_ties_follow_original_order_when_reversed():
    table = [row("x", 0.9, 0.8), row("y", 1.0, 0.8), row("p", 0.1, 0.3), row("q", 0.0, 0.3)]
    rev = list(reversed(table))
    assert [r["id"] for r in select("corcer-rait", table, 1, 1, MCQA).rows] == ["x", "p"]
    assert [r["id"] for r in select("corcer-rait", rev, 1, 1, MCQA).rows] == ["y", "q"]


def test_corcer_rait_ignores_rehearsal_column():
    sel = select("corcer-rait", ORDER, 0, 1, OEQA_THRESHOLDS)
    assert [r["id"] for r in sel.rows] == ["i2"]


# ------------------------------------------------------------ flow filter
FLOW = [row("w1", 0.8, 0.4, reh=0.9),    # van: d_mu > 0 does not matter for van
        row("w2", 1.0, 0.6, reh=0.5),
        row("f_neg", 0.2, 0.5, reh=0.1),  # d_mu < 0 -> kept
        row("f_zero", 0.2, 0.1, reh=0.2), # d_mu == 0 -> only with keep_zero_flow
        row("f_pos", 0.3, 0.0, reh=0.6),  # d_mu > 0 -> always dropped
        row("f_neg2", 0.4, 0.7, reh=0.0)]


def test_craft_strict_flow():
    sel = select("craft", FLOW, BIG, BIG, OEQA_THRESHOLDS)
    assert [r["id"] for r in sel.rows] == ["w2", "w1", "f_neg", "f_neg2"]
    assert (sel.n_van_candidates, sel.n_idk_candidates) == (2, 2)
    assert sel.shortfall == {"vanilla": BIG - 2, "idk": BIG - 2}


def test_craft_keep_zero_flow():
    sel = select("craft", FLOW, BIG, BIG, OEQA_THRESHOLDS, keep_zero_flow=True)
    assert ids(sel, "idk") == ["f_zero", "f_neg", "f_neg2"]   # certainty 0.1, 0.5, 0.7
    assert sel.n_idk_candidates == 3


def test_craft_takes_lowest_certainty_idk():
    sel = select("craft", FLOW, 1, 1, MCQA)
    assert [r["id"] for r in sel.rows] == ["w2", "f_neg"]


def test_rait_ignores_flow():
    sel = select("rait", FLOW, BIG, BIG, OEQA_THRESHOLDS)
    assert sorted(ids(sel, "idk")) == ["f_neg", "f_neg2", "f_pos", "f_zero"]


@pytest.mark.parametrize("keep_zero,expected", [
    (False, {"f_neg", "f_neg2"}), (True, {"f_neg", "f_neg2", "f_zero"})])
def test_craft_wo_cer_filters_then_draws(keep_zero, expected):
    full = select("craft-wo-cer", FLOW, BIG, BIG, OEQA_THRESHOLDS, keep_zero_flow=keep_zero)
    assert set(ids(full, "idk")) == expected
    assert set(ids(full, "vanilla")) == {"w1", "w2"}
    for seed in range(20):
        sel = select("craft-wo-cer", FLOW, 1, 1, OEQA_THRESHOLDS, seed=seed,
                     keep_zero_flow=keep_zero)
        assert set(ids(sel, "idk")) <= expected


def test_craft_wo_cer_draw_is_random_not_sorted():
    # 30 flow-kept idk candidates; certainty-sorted would always be i0..i4.
    table = [row(f"i{k}", 0.1, float(k), reh=0.0) for k in range(30)]
    picks = {tuple(ids(select("craft-wo-cer", table, 0, 5, MCQA, seed=s), "idk"))
             for s in range(5)}
    assert len(picks) > 1


# ------------------------------------------------------------ shortfalls
@pytest.mark.parametrize("method", METHOD_RULES)
def test_empty_idk_candidates(method):
    table = [row(f"q{k}", 0.5 + k / 20, reh=0.0) for k in range(5)]  # all mu >= 0.5
    sel = select(method, table, 2, 4, MCQA)
    assert ids(sel, "idk") == []
    assert len(ids(sel, "vanilla")) == 2
    assert sel.shortfall == {"vanilla": 0, "idk": 4}
    assert sel.n_idk_candidates == 0


@pytest.mark.parametrize("method", METHOD_RULES)
def test_empty_table(method):
    sel = select(method, [], 3, 3, MCQA)
    assert sel.rows == () and sel.shortfall == {"vanilla": 3, "idk": 3}


@pytest.mark.parametrize("method", METHOD_RULES)
def test_shortfall_and_zero_van(method):
    sel = select(method, FLOW, 0, 10, OEQA_THRESHOLDS)
    assert ids(sel, "vanilla") == []
    n_idk_cand = 4 if method in ("rait", "corcer-rait") else 2
    assert len(ids(sel, "idk")) == n_idk_cand
    assert sel.shortfall == {"vanilla": 0, "idk": 10 - n_idk_cand}
    m = sel.to_manifest()
    assert json.loads(json.dumps(m)) == m
    assert m["n_vanilla"] == 0 and m["n_idk"] == n_idk_cand
    assert m["n_van_asked"] == 0 and m["n_idk_asked"] == 10
    assert m["n_van_candidates"] == 2 and m["n_idk_candidates"] == n_idk_cand
    assert m["shortfall"] == {"vanilla": 0, "idk": 10 - n_idk_cand}


# ------------------------------------------------------------ determinism
LARGE = ([row(f"v{k}", 0.9, k % 7, reh=0.5) for k in range(200)]
         + [row(f"i{k}", 0.1, k % 5, reh=0.0) for k in range(200)])


@pytest.mark.parametrize("method", METHOD_RULES)
def test_same_seed_same_selection(method):
    a = select(method, LARGE, 50, 50, MCQA, seed=7)
    b = select(method, LARGE, 50, 50, MCQA, seed=7)
    assert a == b


@pytest.mark.parametrize("method", ["rait", "craft-wo-cer"])
def test_different_seeds_differ(method):
    # C(200, 50) possible draws: a collision is practically impossible.
    a = select(method, LARGE, 50, 50, MCQA, seed=0)
    b = select(method, LARGE, 50, 50, MCQA, seed=1)
    assert set(ids(a, "vanilla")) != set(ids(b, "vanilla"))
    assert set(ids(a, "idk")) != set(ids(b, "idk"))


@pytest.mark.parametrize("method", ["corcer-rait", "craft"])
def test_sorted_methods_ignore_seed(method):
    assert select(method, LARGE, 50, 50, MCQA, seed=0) == select(method, LARGE, 50, 50, MCQA, seed=1)


# ------------------------------------------------------------ validation
def test_missing_column_names_row_and_column():
    table = [row("a", 0.3), {"id": "b", "correctness": 0.2}]
    with pytest.raises(ValueError, match=r"row 1.*certainty"):
        select("rait", table, 1, 1, MCQA)


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), float("inf"), "0.5", True, None])
def test_bad_correctness(bad):
    with pytest.raises(ValueError, match=r"row 1.*correctness"):
        validate_table([row("a", 0.3), row("b", bad)], "knowledge")


def test_nan_certainty():
    with pytest.raises(ValueError, match=r"row 0.*certainty"):
        validate_table([row("a", 0.3, float("nan"))], "knowledge")


def test_rehearsal_needed_only_for_flow_methods():
    table = [row("a", 0.3), row("b", 0.8)]
    validate_table(table, METHODS["rait"].table)
    validate_table(table, METHODS["corcer-rait"].table)
    for method in ("craft", "craft-wo-cer"):
        with pytest.raises(ValueError, match=r"row 0.*correctness_rehearsal"):
            select(method, table, 1, 1, MCQA)


def test_rehearsal_out_of_range():
    with pytest.raises(ValueError, match=r"row 0.*correctness_rehearsal"):
        validate_table([row("a", 0.3, reh=1.2)], "flow")


def test_duplicate_id():
    with pytest.raises(ValueError, match=r"row 2.*duplicate id 'a'"):
        validate_table([row("a", 0.1), row("b", 0.2), row("a", 0.3)], "knowledge")


@pytest.mark.parametrize("n_van,n_idk,name", [(-1, 1, "n_van"), (1, -2, "n_idk"), (1.5, 1, "n_van")])
def test_bad_counts(n_van, n_idk, name):
    with pytest.raises(ValueError, match=name):
        select("rait", BOUNDARY, n_van, n_idk, MCQA)


def test_the_rules_are_the_registrys():
    assert set(METHOD_RULES) == {"rait", "corcer-rait", "craft-wo-cer", "craft"}
    assert {n for n, m in METHODS.items() if m.table == "flow" and m.trains} == {"craft", "craft-wo-cer"}


def test_construct_cli_lists_the_methods_with_a_rule(tmp_path, capsys):
    table = tmp_path / "k.jsonl"
    table.write_text(json.dumps(row("a", 0.9, reh=0.0)) + "\n")
    assert main(["construct", "--method", "init-basic", "--knowledge", str(table), "--n-van", "1",
                 "--n-idk", "1", "--out", str(tmp_path / "sel.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "'init-basic' has no selection rule" in err
    for m in selectors():
        assert m in err
    with pytest.raises(ValueError, match="flow"):
        validate_table(BOUNDARY, "bogus")


def test_van_tuning_draws_pool_questions_without_knowledge():
    pool = [{"id": f"q{k}"} for k in range(10)]
    sel = select("van-tuning", pool, 3, 2, MCQA, seed=4)
    assert len(ids(sel, "vanilla")) == 5 and ids(sel, "idk") == []
    assert set(ids(sel, "vanilla")) <= {p["id"] for p in pool} and len(set(ids(sel, "vanilla"))) == 5
    assert sel.to_manifest()["n_van_asked"] == 5 and sel.shortfall == {"vanilla": 0, "idk": 0}
    short = select("van-tuning", pool[:2], 3, 2, MCQA)
    assert short.shortfall == {"vanilla": 3, "idk": 0}
    padded = select("van-tuning", pool[:2], 3, 2, MCQA, replace=True)
    assert len(ids(padded, "vanilla")) == 5 and padded.to_manifest()["n_vanilla_unique"] <= 2


# ------------------------------------------------------------ IO
def test_read_table_roundtrip_and_blank_lines(tmp_path):
    p = tmp_path / "k.jsonl"
    p.write_text(json.dumps(row("a", 0.1, 0.2)) + "\n\n" + json.dumps(row("b", 0.9)) + "\n")
    assert read_table(p) == [row("a", 0.1, 0.2), row("b", 0.9)]


def test_read_table_malformed_line(tmp_path):
    p = tmp_path / "k.jsonl"
    p.write_text(json.dumps(row("a", 0.1)) + "\n" + json.dumps(row("b", 0.2)) + "\n{oops\n")
    with pytest.raises(ValueError, match=r"k\.jsonl: line 3"):
        read_table(p)


def test_read_table_non_object(tmp_path):
    p = tmp_path / "k.jsonl"
    p.write_text("[1, 2]\n")
    with pytest.raises(ValueError, match=r"k\.jsonl: line 1"):
        read_table(p)


def test_write_selection(tmp_path):
    sel = select("corcer-rait", ORDER, 2, 2, OEQA_THRESHOLDS)
    out = tmp_path / "sel.jsonl"
    out.write_text("stale\n")
    write_selection(sel, out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == [{"id": "v2", "label": "vanilla"}, {"id": "v4", "label": "vanilla"},
                     {"id": "i2", "label": "idk"}, {"id": "i1", "label": "idk"}]
    assert os.listdir(tmp_path) == ["sel.jsonl"]   # no temp file left behind


# ------------------------------------------------------------ properties
THRESHOLDS = st.sampled_from([OEQA_THRESHOLDS, from_tau(0.5), from_tau(0.3), Thresholds(0.2, 0.8)])
MU = st.one_of(st.sampled_from([0.0, 0.3, 0.49, 0.5, 0.51, 1.0]), st.floats(0, 1))


@st.composite
def tables(draw):
    n = draw(st.integers(0, 40))
    return [{"id": f"q{k}", "correctness": draw(MU),
             "certainty": draw(st.sampled_from([-1.0, 0.0, 0.5]) | st.floats(-5, 5)),
             "correctness_rehearsal": draw(MU)} for k in range(n)]


def _oracle_candidates(method, table, th, keep_zero):
    van = [r["id"] for r in table if r["correctness"] >= th.hi]
    idk = [r for r in table
           if (r["correctness"] <= th.lo if th.lo_inclusive else r["correctness"] < th.lo)]
    if method in ("craft", "craft-wo-cer"):
        d = lambda r: r["correctness_rehearsal"] - r["correctness"]  # noqa: E731
        idk = [r for r in idk if d(r) < 0 or (keep_zero and d(r) == 0)]
    return van, [r["id"] for r in idk]


@settings(max_examples=150, deadline=None)
@given(table=tables(), method=st.sampled_from(METHOD_RULES), th=THRESHOLDS,
       n_van=st.integers(0, 30), n_idk=st.integers(0, 30), seed=st.integers(0, 2**32),
       keep_zero=st.booleans())
def test_property_sizes_disjoint_membership(table, method, th, n_van, n_idk, seed, keep_zero):
    sel = select(method, table, n_van, n_idk, th, seed=seed, keep_zero_flow=keep_zero)
    van, idk = ids(sel, "vanilla"), ids(sel, "idk")
    van_c, idk_c = _oracle_candidates(method, table, th, keep_zero)
    assert (sel.n_van_candidates, sel.n_idk_candidates) == (len(van_c), len(idk_c))
    assert len(van) == min(n_van, len(van_c)) and len(idk) == min(n_idk, len(idk_c))
    assert len(set(van)) == len(van) and len(set(idk)) == len(idk)
    assert not set(van) & set(idk)
    assert set(van) <= set(van_c) and set(idk) <= set(idk_c)
    labels = [r["label"] for r in sel.rows]
    assert labels == sorted(labels, key=lambda s: s != "vanilla")   # vanilla first
    assert sel.shortfall == {"vanilla": n_van - len(van), "idk": n_idk - len(idk)}
    assert json.loads(json.dumps(sel.to_manifest())) == sel.to_manifest()


@settings(max_examples=100, deadline=None)
@given(table=tables(), method=st.sampled_from(["corcer-rait", "craft"]), th=THRESHOLDS,
       n_van=st.integers(0, 30), n_idk=st.integers(0, 30))
def test_property_sorted_methods_take_extremes(table, method, th, n_van, n_idk):
    sel = select(method, table, n_van, n_idk, th)
    cert = {r["id"]: r["certainty"] for r in table}
    van_c, idk_c = _oracle_candidates(method, table, th, False)
    van, idk = ids(sel, "vanilla"), ids(sel, "idk")
    assert [cert[i] for i in van] == sorted((cert[i] for i in van), reverse=True)
    assert [cert[i] for i in idk] == sorted(cert[i] for i in idk)
    left_van = [cert[i] for i in van_c if i not in van]
    left_idk = [cert[i] for i in idk_c if i not in idk]
    if van and left_van:
        assert min(cert[i] for i in van) >= max(left_van)
    if idk and left_idk:
        assert max(cert[i] for i in idk) <= min(left_idk)


@settings(max_examples=100, deadline=None)
@given(table=tables(), method=st.sampled_from(METHOD_RULES), th=THRESHOLDS,
       n_van=st.integers(0, 30), n_idk=st.integers(0, 30), seed=st.integers(0, 2**32))
def test_property_deterministic_and_monotone_in_size(table, method, th, n_van, n_idk, seed):
    """Same inputs, same selection; asking for fewer never selects anything outside the larger ask."""
    a = select(method, table, n_van, n_idk, th, seed=seed)
    assert select(method, table, n_van, n_idk, th, seed=seed).rows == a.rows
    if method in ("corcer-rait", "craft"):      # certainty-sorted rules: a smaller ask is a prefix
        small = select(method, table, n_van // 2, n_idk // 2, th, seed=seed)
        assert set(ids(small, "vanilla")) <= set(ids(a, "vanilla"))
        assert set(ids(small, "idk")) <= set(ids(a, "idk"))


def _table(n_van: int, n_idk: int) -> list[dict]:
    return ([{"id": f"v{i}", "correctness": 1.0, "certainty": float(i), "correctness_rehearsal": 1.0}
             for i in range(n_van)] +
            [{"id": f"i{i}", "correctness": 0.0, "certainty": float(i), "correctness_rehearsal": 0.0}
             for i in range(n_idk)])


def test_draw_with_replacement_fills_the_count_from_what_there_is():
    sel = select("rait", _table(3, 2), 6, 4, construct.from_tau(0.5), seed=1, replace=True)
    man = sel.to_manifest()
    assert (man["n_vanilla"], man["n_idk"], man["shortfall"]) == (6, 4, {"vanilla": 0, "idk": 0})
    assert man["n_vanilla_unique"] <= 3 and man["n_idk_unique"] <= 2
    # ranked pick: long enough -> the top n, untouched; short -> n draws with replacement from it
    ranked = select("craft", _table(5, 1), 2, 3, construct.from_tau(0.5), replace=True,
                              keep_zero_flow=True)
    assert [r["id"] for r in ranked.rows if r["label"] == "vanilla"] == ["v4", "v3"]
    assert [r["id"] for r in ranked.rows if r["label"] == "idk"] == ["i0"] * 3
    empty = select("rait", _table(2, 0), 1, 3, construct.from_tau(0.5), replace=True)
    assert empty.shortfall == {"vanilla": 0, "idk": 3}              # nothing to draw from stays short


def test_without_replacement_a_short_pool_is_a_shortfall_not_an_error():
    sel = select("rait", _table(3, 1), 8, 2, construct.from_tau(0.5), seed=0)
    assert sel.shortfall == {"vanilla": 5, "idk": 1}
    replace(PRESETS["smoke"].open, pool_size=10, n_van=40, n_idk=10)   # no longer a config error
