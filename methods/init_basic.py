"""Init-Basic: the untuned model with the plain QA prompt; the reference point E1 of THS."""
NAME = "init-basic"
STYLE = "basic"
DESCRIPTION = "untuned model, plain prompt (THS reference)"
REFUSALS = ()


def stages(kind: str) -> list:
    return []
