"""R-Tuning, refusal variant (Zhang et al., NAACL 2024, "R-Tuning: Instructing Large Language Models to
Say 'I Don't Know'"; shizhediao/R-Tuning training/*/run_*.py with --method unknown).

M0 answers each training question once, greedily (OEQA: the knowledge query's 3-shot prompt, whose
answer the run's scorer checks; MCQA: the query's most probable letter, as run_MMLU.py's argmax over
the letter logits). A question it answers correctly keeps its gold answer; one it gets wrong gets
one of R-Tuning's 16 refusal sentences, drawn at random (FALSE_RESPONSES). The code trains on the
whole split; here N_van known and N_idk unknown questions are drawn at random, so training sets are
as large as the other methods'. SFT M0 on the union.
"""
from harness.knowledge import construct as c
from harness.data.prompts import RTUNING_REFUSALS
from harness.method import Method


def select(table: list, p: c.Params, rng) -> c.Selection:
    known, unknown = c.by_greedy(table)
    van, idk = c.draw(rng, known, p.n_van, p.replace), c.draw(rng, unknown, p.n_idk, p.replace)
    rows = ([{"id": r["id"], "label": "vanilla", "target": r["gold"]} for r in van]
            + [{"id": r["id"], "label": "idk", "target": rng.choice(RTUNING_REFUSALS)} for r in idk])
    return c.Selection.targets(rows, p.asked, (known, unknown))


METHOD = Method(
    name="r-tuning", style="refuse",
    description="R-Tuning (refusal): wrong greedy answers become refusals (Zhang et al., NAACL 2024)",
    refusals=RTUNING_REFUSALS, select=select, table="answers",
)
