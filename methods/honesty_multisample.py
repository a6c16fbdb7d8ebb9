"""Alignment for Honesty, MULTISAMPLE (Yang et al. 2023; GAIR-NLP/alignment-for-honesty
train/process_training_data.py).

One training row per sampled answer of M0 (10 per question in the paper): the sample itself where it
is right, else "I apologize, but I'm not able to provide an answer to the question.", so a question's
share of refusals follows its share of wrong samples. N_van questions with a right sample and N_idk
without one are drawn at random (the shortfall counts questions; the training set has one row per
sample); SFT M0 on the rows. TriviaQA only.
"""
from harness.knowledge import construct as c
from harness.data.prompts import HONESTY_REFUSAL
from harness.method import Method


def select(table: list, p: c.Params, rng) -> c.Selection:
    known, unknown = c.by_any_right_sample(table)
    van, idk = c.draw(rng, known, p.n_van, p.replace), c.draw(rng, unknown, p.n_idk, p.replace)
    rows = [{"id": r["id"], "label": "vanilla" if ok else "idk", "target": s if ok else HONESTY_REFUSAL}
            for r in van + idk for s, ok in zip(r["samples"], r["sample_correct"])]
    return c.Selection.targets(rows, p.asked, (known, unknown), picked=(len(van), len(idk)))


METHOD = Method(
    name="honesty-multisample", style="refuse",
    description="Alignment for Honesty (multisample): each sample kept if right, else an apology (Yang et al. 2023)",
    refusals=(HONESTY_REFUSAL,), select=select, table="answers",
    unsupported={"choice": "Alignment for Honesty trains on TriviaQA (open-ended); the released code has no MCQA construction"},
)
