"""The plots (harness.reporting.plots)."""


def test_the_ths_plane_zooms_to_the_data_and_names_methods_in_a_legend():
    from harness.reporting.plots import ths_plane
    rows = [{"model": "m", "run": "r", "method": meth, "pc": pc, "pw": pw, "pc_lo": pc - 0.02, "pc_hi": pc + 0.02,
             "pw_lo": pw - 0.02, "pw_hi": pw + 0.02}
            for meth, pc, pw in (("init-basic", 0.08, 0.90), ("rait", 0.07, 0.80), ("craft", 0.075, 0.81))]
    ax = ths_plane("triviaqa", rows).axes[0]
    assert ax.get_xlim()[1] < 20 and ax.get_ylim()[0] > 50            # not the whole 0-100 square
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"init-basic", "rait", "craft"} <= set(legend) and any(t.startswith("THS = 0") for t in legend)
    assert not ax.texts                                                  # no labels on the points to collide


def test_a_method_at_another_methods_point_is_not_hidden():
    """Four methods with the same (Pc, Pw): each later one is a larger hollow ring and its legend entry
    says whose point it shares."""
    from harness.reporting.plots import ths_plane
    rows = [{"model": "m", "run": "r", "method": meth, "pc": pc, "pw": pw}
            for meth, pc, pw in (("init-basic", 0.5, 0.5), ("idk-sft", 0.46, 0.54), ("init-refuse", 0.46, 0.54),
                                 ("rait", 0.2, 0.5))]
    ax = ths_plane("geo_city", rows).axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "init-refuse (same point as idk-sft)" in legend and "idk-sft" in legend and "rait" in legend
    sizes = {c.get_label(): c.lines[0].get_markersize() for c in ax.containers}
    assert len(sizes) == 4 and sizes["init-refuse (same point as idk-sft)"] > sizes["idk-sft"] == sizes["rait"]


def test_the_ths_plane_shows_edge_points_whole_and_flags_an_untrained_method():
    from harness.reporting.plots import ths_plane
    rows = [{"model": "m", "run": "r", "method": "init-basic", "pc": 0.0, "pw": 1.0},
            {"model": "m", "run": "r", "method": "craft", "pc": 0.0, "pw": 1.0, "untrained": True},
            {"model": "m", "run": "r", "method": "rait", "pc": 0.0, "pw": 1.0, "shortfall_van": 4}]
    ax = ths_plane("triviaqa", rows).axes[0]
    assert ax.get_xlim()[0] < 0 and ax.get_ylim()[1] > 100             # (0, 100) is inside the frame
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    craft, rait = "craft (UNTRAINED; same point as init-basic)", "rait (short; same point as init-basic, craft)"
    assert craft in legend and rait in legend and "init-basic" in legend
    faces = {c.get_label(): c.lines[0].get_markerfacecolor() for c in ax.containers}
    assert faces[craft] == "none" and faces["init-basic"] != "none"     # flagged: hollow
