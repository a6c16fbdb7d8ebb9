"""Cor-RAIT (R-Tuning style): query M0's correctness; known questions keep their answer, unknown
ones are relabelled "I don't know"; N_van and N_idk drawn at random; SFT M0 on the union."""
from harness import pipeline as p

NAME = "rait"
STYLE = "refuse"
DESCRIPTION = "Cor-RAIT: correctness split, random draw"


def stages(kind: str) -> list:
    return [*p.knowledge_stages(kind, flow=False),
            p.build_stage(NAME, kind, rule="rait"),
            p.train_stage(NAME, kind)]
