"""CorCer-RAIT (CRaFT "w/o Flow"): Cor-RAIT's candidates, but D_van takes the most certain and
D_idk the least certain questions."""
from harness import pipeline as p

NAME = "corcer-rait"
STYLE = "refuse"
DESCRIPTION = "correctness split, certainty-ranked (CRaFT w/o flow)"


def stages(kind: str) -> list:
    return [*p.knowledge_stages(kind, flow=False),
            p.build_stage(NAME, kind, rule="corcer-rait"),
            p.train_stage(NAME, kind)]
