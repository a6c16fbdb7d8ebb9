"""Idk-DPO (Cheng et al., ICML 2024, "Can AI Assistants Know What They Don't Know?";
OpenMOSS/Say-I-Dont-Know, src/dpo/trainers.py).

Idk-SFT first, then DPO. The questions, the known/unknown split (accuracy of M0's samples >= the Ik
threshold 1.0) and the chosen answers are Idk-SFT's, drawn the same way under the same seed: a known
question prefers one of its correct samples to the Idk sentence; an unknown one prefers the Idk
sentence to one of its wrong samples, drawn at random. SFT on the chosen answers gives the Idk-SFT
model (the same rows as the `idk-sft` method's, so the trained-model store trains it once when both
run); DPO (beta 0.1) plus the chosen answer's NLL weighted 0.01 then trains it, with TRL's
DPOTrainer (harness.training.dpo), the SFT model being the reference.
The released code ships its pairs, not the code that built them (its README samples an Idk-SFT model
trained on the other half of the data); here they come from M0's samples on the same pool (SPEC
section 4). Learning rate, epochs, batch and LoRA are the domain's SFT settings. TriviaQA
(open-ended) only, as Idk-SFT.
"""
from harness.knowledge import construct as c
from harness.training.dpo import Preference
from harness.data.prompts import IDK_SENTENCE
from harness.method import Method

IK_THRESHOLD = 1.0
PREFERENCE = Preference(beta=0.1, sft_weight=0.01)


def select(table: list, p: c.Params, rng) -> c.Selection:
    # the draws of idk-sft's select, in its order, then the rejected answers
    known, unknown = c.by_accuracy(table, IK_THRESHOLD)
    van, idk = c.draw(rng, known, p.n_van, p.replace), c.draw(rng, unknown, p.n_idk, p.replace)
    rows = ([{"id": r["id"], "label": "vanilla", "target": rng.choice(c.correct_samples(r)), "rejected": IDK_SENTENCE}
             for r in van]
            + [{"id": r["id"], "label": "idk", "target": IDK_SENTENCE,
                "rejected": rng.choice([s for s, ok in zip(r["samples"], r["sample_correct"]) if not ok])}
               for r in idk])
    return c.Selection.targets(rows, p.asked, (known, unknown))


METHOD = Method(
    name="idk-dpo", style="refuse",
    description="Idk-DPO: DPO (beta 0.1, +0.01 NLL) of the Idk-SFT model, right answer vs Idk (Cheng et al., ICML 2024)",
    refusals=(IDK_SENTENCE,), select=select, table="answers", preference=PREFERENCE,
    unsupported={"choice": "Cheng et al. build the Idk dataset from TriviaQA (open-ended) only"},
)
