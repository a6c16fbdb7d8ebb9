"""CRaFT (Algorithm 1 of arXiv 2410.06913, AAAI 2025).

Stage 1: query M0 (correctness mu, certainty sigma); rehearse M0 on the questions it knows best,
giving M~; query M~ for mu~; the knowledge flow is mu~ - mu.
Stage 2: D_van1 = {mu >= tau}; D_idk1 = {mu < tau and flow < 0}; take the N_van most certain of
D_van1 and the N_idk least certain of D_idk1; relabel D_idk "I don't know"; SFT M0 (not M~).
"""
from harness.knowledge import construct as c
from harness.data.prompts import IDK
from harness.method import Method


def select(table: list, p: c.Params, rng) -> c.Selection:
    van, idk = c.candidates(table, p.thresholds)
    idk = c.drop_rising_flow(idk, keep_zero=p.keep_zero_flow)       # dynamic conflicts (Sec. 3.3)
    return c.Selection.of(c.most_certain(van, p.n_van, rng, pad=p.replace),
                          c.least_certain(idk, p.n_idk, rng, pad=p.replace), p.asked, (van, idk))


METHOD = Method(
    name="craft", style="refuse",
    description="CRaFT: correctness + certainty + knowledge flow (Zhu et al., AAAI 2025)",
    refusals=(IDK,), select=select, table="flow",
)
