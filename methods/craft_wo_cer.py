"""CRaFT "w/o Cer" (arXiv 2410.06913 Table 3): Cor-RAIT's candidates plus the knowledge-flow filter
(drop idk candidates whose correctness rises under rehearsal), drawn at random."""
from harness.knowledge import construct as c
from harness.data.prompts import IDK
from harness.method import Method


def select(table: list, p: c.Params, rng) -> c.Selection:
    van, idk = c.candidates(table, p.thresholds)
    idk = c.drop_rising_flow(idk, keep_zero=p.keep_zero_flow)
    return c.Selection.of(c.draw(rng, van, p.n_van, p.replace), c.draw(rng, idk, p.n_idk, p.replace),
                          p.asked, (van, idk))


METHOD = Method(
    name="craft-wo-cer", style="refuse",
    description="correctness split + flow filter, random draw (CRaFT w/o certainty, AAAI 2025 ablation)",
    refusals=(IDK,), select=select, table="flow",
)
