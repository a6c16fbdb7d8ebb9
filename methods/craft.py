"""CRaFT (Algorithm 1 of arXiv 2410.06913).

Stage 1: query M0 (correctness mu, certainty sigma); rehearse M0 on the questions it knows best,
giving M~; query M~ for mu~; the knowledge flow is mu~ - mu.
Stage 2: D_van1 = {mu >= tau}; D_idk1 = {mu < tau and flow < 0}; take the N_van most certain of
D_van1 and the N_idk least certain of D_idk1; relabel D_idk "I don't know"; SFT M0 (not M~).
"""
from harness import pipeline as p

NAME = "craft"
STYLE = "refuse"
DESCRIPTION = "CRaFT: correctness + certainty + knowledge flow"


def stages(kind: str) -> list:
    return [*p.knowledge_stages(kind, flow=True),
            p.build_stage(NAME, kind, rule="craft"),
            p.train_stage(NAME, kind)]
