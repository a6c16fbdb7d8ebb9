"""Cor-RAIT (R-Tuning style, the RAIT baseline of arXiv 2410.06913): query M0's correctness; known
questions keep their answer, unknown ones are relabelled "I don't know"; N_van and N_idk drawn at
random; SFT M0 on the union."""
from harness.knowledge import construct as c
from harness.data.prompts import IDK
from harness.method import Method


def select(table: list, p: c.Params, rng) -> c.Selection:
    van, idk = c.candidates(table, p.thresholds)
    return c.Selection.of(c.draw(rng, van, p.n_van, p.replace), c.draw(rng, idk, p.n_idk, p.replace),
                          p.asked, (van, idk))


METHOD = Method(
    name="rait", style="refuse",
    description="Cor-RAIT: correctness split, random draw (R-Tuning style baseline of CRaFT)",
    refusals=(IDK,), select=select, table="knowledge",
)
