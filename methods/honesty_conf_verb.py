"""Alignment for Honesty, CONFIDENCE-VERB (Yang et al. 2023; GAIR-NLP/alignment-for-honesty
train/process_training_data.py).

k = how many of M0's sampled answers are right (of 10 in the paper; other counts are scaled to 10).
k = 0: "I apologize, but I'm not able to provide an answer to the question." Otherwise M0's own right
answer (the greedy one if right, else the first right sample), its first letter lower-cased, after a
prefix by k: <= 2 "I'm really not sure about this, but", <= 4 "I'm not completely sure about this,
but", <= 6 "I don't have strong feelings either way, but", <= 8 "I'm fairly confident that", else
"I'm absolutely certain that". At test time an answer is scored on what follows the prefix. N_van
questions with k >= 1 and N_idk with k = 0, drawn at random; SFT M0 on the union. TriviaQA only.
"""
from harness.knowledge import construct as c
from harness.data.prompts import HONESTY_REFUSAL, confidence_verb
from harness.method import Method


def select(table: list, p: c.Params, rng) -> c.Selection:
    known, unknown = c.by_any_right_sample(table)
    van, idk = c.draw(rng, known, p.n_van, p.replace), c.draw(rng, unknown, p.n_idk, p.replace)
    rows = ([{"id": r["id"], "label": "vanilla",
              "target": confidence_verb(c.known_answer(r), sum(r["sample_correct"]), len(r["samples"]))} for r in van]
            + [{"id": r["id"], "label": "idk", "target": HONESTY_REFUSAL} for r in idk])
    return c.Selection.targets(rows, p.asked, (known, unknown))


METHOD = Method(
    name="honesty-conf-verb", style="refuse",
    description="Alignment for Honesty (confidence-verb): answer after a confidence phrase by k of 10 (Yang et al. 2023)",
    refusals=(HONESTY_REFUSAL,), select=select, table="answers",
    unsupported={"choice": "Alignment for Honesty trains on TriviaQA (open-ended); the released code has no MCQA construction"},
)
