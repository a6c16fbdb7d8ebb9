"""Init-Refuse: the untuned model, told to answer 'I don't know' when it does not know."""
NAME = "init-refuse"
STYLE = "refuse"
DESCRIPTION = "untuned model, prompt allows 'I don't know'"


def stages(kind: str) -> list:
    return []
