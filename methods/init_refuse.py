"""Init-Refuse: the untuned model, told to answer 'I don't know' when it does not know."""
from harness.prompts import IDK

NAME = "init-refuse"
STYLE = "refuse"
DESCRIPTION = "untuned model, prompt allows 'I don't know'"
REFUSALS = (IDK,)


def stages(kind: str) -> list:
    return []
