"""GRAIT (Zhu et al., Findings of NAACL 2025, gradient-driven refusal-aware instruction tuning; the
CRaFT group; opendatalab/GRAIT data_process/get_grait_data/construct_grait_data.py).

1. M0's correctness mu (the knowledge query). D_van: the N_van vanilla candidates M0 knows best (by mu;
   the code's top 4,000 of mu > 0.5); refusal candidates: every idk candidate (mu < 0.5 in the code;
   here the domain's thresholds, as every method).
2. LESS-style gradient features of each (question, target) row on the warmup model, the rehearsal's
   (the code warms a LoRA up on the questions M0 knows best, CRaFT's rehearsal set): the LoRA gradient
   of the answer-only loss, randomly projected to 8,192 dimensions, unit length (harness.training.gradients).
3. The refusal set, greedily: start from S_j = sum over D_van of <g_j, g_v>; N_idk times take the
   candidate with the largest S, and add its inner products with the others to their S (the code's
   loop). Refusal candidates whose gradients agree with the answers' are the ones least likely to
   teach the model to refuse what it knows.
4. Loss weights of the refusal rows: 0.5 * N_idk * softmax(delta / 0.05) (the code's sum-to-500 for
   1,000 rows), delta_j = mean over every vanilla candidate v of <g_j, g~_v> - mean over every refusal
   candidate u of <g_j, g_u>, every gradient here taken with the "I don't know" target (g~_v: the
   vanilla question's refusal gradient), as construct_grait_data.py computes it from idk_idk_inner over
   van_group (all mu > 0.5) and idk_group; vanilla rows weigh 1. SFT of M0 on the union with that
   weighted loss (harness.training.sft.weighted_loss: each row's mean token loss times its weight, as the
   code's `alpha * outputs.loss` at one row per device).

The released script, at its end, replaces the greedy refusal set by the N_idk lowest-scoring
candidates the loop did not pick, and every weight by 1: the harness follows the paper (the greedy
set and the weights), as SPEC section 4 asks; docs/methods.md lists this and the other departures.
"""
import numpy as np

from harness.knowledge import construct as c
from harness.data.prompts import IDK
from harness.method import Method
from harness.stages.gradients import gradients_stage

PROJECTION_DIM = 8192
LORA = {"r": 128, "alpha": 512, "target_modules": ("q_proj", "k_proj", "v_proj", "o_proj")}   # the code's warmup LoRA
TEMPERATURE, WEIGHT_MEAN = 0.05, 0.5


def greedy(S: np.ndarray, inner: np.ndarray, k: int) -> list[int]:
    """The code's loop: k times the largest score, whose inner products are then added to the others'."""
    S, picked = S.astype(np.float64).copy(), []
    for _ in range(min(k, len(S))):
        S[picked] = -np.inf
        m = int(np.argmax(S))
        picked.append(m)
        S += inner[:, m]
    return picked


def weights(delta: np.ndarray) -> np.ndarray:
    """WEIGHT_MEAN * len * softmax(delta / TEMPERATURE): the weights average WEIGHT_MEAN."""
    z = delta / TEMPERATURE
    e = np.exp(z - z.max())
    return WEIGHT_MEAN * len(delta) * e / e.sum()


def select(table: list, p: c.Params, rng) -> c.Selection:
    van_all, idk_all = c.candidates(table, p.thresholds)
    van = [r for r in c.best_known(van_all, p.n_van) if r.get("gradient") is not None]
    idk = [r for r in idk_all if r.get("refusal_gradient") is not None]
    if not van or not idk:          # no answers to agree with: a random draw of what there is, unweighted
        picked = sorted(rng.sample(range(len(idk)), min(p.n_idk, len(idk))))
        w = np.ones(len(picked))
    else:
        G_van, G_idk = np.stack([r["gradient"] for r in van]), np.stack([r["refusal_gradient"] for r in idk])
        G_van_refusal = np.stack([r["refusal_gradient"] for r in van_all if r.get("refusal_gradient") is not None])
        inner = G_idk @ G_idk.T
        picked = greedy(G_idk @ G_van.sum(axis=0), inner, p.n_idk)
        delta = G_idk @ G_van_refusal.mean(axis=0) - inner.mean(axis=1)
        w = weights(delta[picked])
    rows = ([{"id": r["id"], "label": "vanilla", "target": r["gold"], "weight": 1.0} for r in van]
            + [{"id": idk[j]["id"], "label": "idk", "target": p.idk, "weight": float(wj)} for j, wj in zip(picked, w)])
    return c.Selection.targets(rows, p.asked, (van_all, idk_all))


METHOD = Method(
    name="grait", style="refuse",
    description="GRAIT: refusal samples chosen greedily by LoRA-gradient agreement, weighted loss (Zhu et al., NAACL Findings 2025)",
    refusals=(IDK,), select=select, table="gradients", version=2,
    extra_stages=lambda kind: [gradients_stage(kind, PROJECTION_DIM, LORA)],
)
