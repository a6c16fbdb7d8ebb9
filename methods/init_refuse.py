"""Init-Refuse: the untuned model, told to answer 'I don't know' when it does not know."""
from harness.data.prompts import IDK
from harness.method import Method


METHOD = Method(
    name="init-refuse", style="refuse",
    description="untuned model, prompt allows 'I don't know'",
    refusals=(IDK,),
)
