"""Idk-SFT (Cheng et al., ICML 2024, "Can AI Assistants Know What They Don't Know?";
OpenMOSS/Say-I-Dont-Know Idk_datasets/process_sft_data.py).

M0's sampled answers (the knowledge query: the paper takes 10 at T=1.0, the `paper` preset's query)
give each question's accuracy; at or above the Ik threshold (1.0, the code's default: every sample
right) the target is one of its correct samples, drawn at random; below it, the Idk sentence "This
question is beyond the scope of my knowledge, and I am not sure what the answer is." N_van known and
N_idk unknown questions drawn at random (the code keeps the whole split); SFT M0 on the union.
The paper builds the Idk dataset from TriviaQA only: no multiple-choice variant.
"""
from harness.knowledge import construct as c
from harness.data.prompts import IDK_SENTENCE
from harness.method import Method

IK_THRESHOLD = 1.0


def select(table: list, p: c.Params, rng) -> c.Selection:
    known, unknown = c.by_accuracy(table, IK_THRESHOLD)
    van, idk = c.draw(rng, known, p.n_van, p.replace), c.draw(rng, unknown, p.n_idk, p.replace)
    rows = ([{"id": r["id"], "label": "vanilla", "target": rng.choice(c.correct_samples(r))} for r in van]
            + [{"id": r["id"], "label": "idk", "target": IDK_SENTENCE} for r in idk])
    return c.Selection.targets(rows, p.asked, (known, unknown))


METHOD = Method(
    name="idk-sft", style="refuse",
    description="Idk-SFT: sampled accuracy >= 1.0 keeps a correct sample, else the Idk sentence (Cheng et al., ICML 2024)",
    refusals=(IDK_SENTENCE,), select=select, table="answers",
    unsupported={"choice": "Cheng et al. build the Idk dataset from TriviaQA (open-ended) only"},
)
