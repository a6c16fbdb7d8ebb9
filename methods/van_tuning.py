"""Van-Tuning: SFT on N_van + N_idk random training questions with their original answers."""
from harness import pipeline as p

NAME = "van-tuning"
STYLE = "refuse"
DESCRIPTION = "SFT on random samples, original answers"


def stages(kind: str) -> list:
    return [p.pool_stage(kind), p.vanilla_build_stage(NAME, kind), p.train_stage(NAME, kind)]
