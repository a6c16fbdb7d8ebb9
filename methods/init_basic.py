"""Init-Basic: the untuned model with the plain QA prompt; the reference point E1 of THS."""
from harness.method import Method


METHOD = Method(
    name="init-basic", style="basic",
    description="untuned model, plain prompt (THS reference)",
    refusals=(),
)
