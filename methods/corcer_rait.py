"""CorCer-RAIT (CRaFT "w/o Flow", arXiv 2410.06913 Table 3): Cor-RAIT's candidates, but D_van takes
the most certain and D_idk the least certain questions."""
from harness.knowledge import construct as c
from harness.data.prompts import IDK
from harness.method import Method


def select(table: list, p: c.Params, rng) -> c.Selection:
    van, idk = c.candidates(table, p.thresholds)
    return c.Selection.of(c.most_certain(van, p.n_van, rng, pad=p.replace),
                          c.least_certain(idk, p.n_idk, rng, pad=p.replace), p.asked, (van, idk))


METHOD = Method(
    name="corcer-rait", style="refuse",
    description="correctness split, certainty-ranked (CRaFT w/o flow, AAAI 2025 ablation)",
    refusals=(IDK,), select=select, table="knowledge",
)
