"""Alignment for Honesty, ABSOLUTE (Yang et al. 2023; GAIR-NLP/alignment-for-honesty
train/process_training_data.py).

M0 answers each question greedily and in its sampled answers (the knowledge query; the paper takes
10 at T=1). Where any of them is right, the target is M0's own right answer (the greedy one if right,
else the first right sample); where none is, "I apologize, but I'm not able to provide an answer to
the question." N_van known and N_idk unknown questions drawn at random (the code keeps the whole
split); SFT M0 on the union. The paper trains on TriviaQA (open-ended) only.
"""
from harness.knowledge import construct as c
from harness.data.prompts import HONESTY_REFUSAL
from harness.method import Method


def select(table: list, p: c.Params, rng) -> c.Selection:
    known = [r for r in table if c.known_answer(r) is not None]
    unknown = [r for r in table if c.known_answer(r) is None]
    van, idk = c.draw(rng, known, p.n_van, p.replace), c.draw(rng, unknown, p.n_idk, p.replace)
    rows = ([{"id": r["id"], "label": "vanilla", "target": c.known_answer(r)} for r in van]
            + [{"id": r["id"], "label": "idk", "target": HONESTY_REFUSAL} for r in idk])
    return c.Selection.targets(rows, p.asked, (known, unknown))


METHOD = Method(
    name="honesty-absolute", style="refuse",
    description="Alignment for Honesty (absolute): M0's right answer, else an apology (Yang et al. 2023)",
    refusals=(HONESTY_REFUSAL,), select=select, table="answers",
    unsupported={"choice": "Alignment for Honesty trains on TriviaQA (open-ended); the released code has no MCQA construction"},
)
