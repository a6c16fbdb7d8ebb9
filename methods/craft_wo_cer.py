"""CRaFT "w/o Cer": Cor-RAIT's candidates plus the knowledge-flow filter (drop idk candidates whose
correctness rises under rehearsal), random draw."""
from harness import pipeline as p

NAME = "craft-wo-cer"
STYLE = "refuse"
DESCRIPTION = "correctness split + flow filter, random draw"


def stages(kind: str) -> list:
    return [*p.knowledge_stages(kind, flow=True),
            p.build_stage(NAME, kind, rule="craft-wo-cer"),
            p.train_stage(NAME, kind)]
