"""R-Tuning (Zhang et al., NAACL 2024; shizhediao/R-Tuning training/*/run_*.py with --method unsure).

Every target is the gold answer followed by "Are you sure you accurately answered the question based on
your internal knowledge?" and "I am sure." where M0's greedy answer was right, "I am unsure." where it
was wrong (M0's greedy answer as in `r-tuning`). At test time an answer ending "I am unsure." counts as
a refusal, and one ending "I am sure." is scored on what precedes the question
(harness.scoring.classify.answer_body). N_van sure and N_idk unsure questions, drawn at random; SFT M0 on the
union. Its leaderboard rows also carry R-Tuning's AP: answers ranked by 0.5 p(answer) + 0.5 P(sure)
against their correctness (harness.stages.confidence).
"""
from harness.knowledge import construct as c
from harness.data.prompts import RTUNING_UNSURE, rtuning_unsure
from harness.method import Method


def select(table: list, p: c.Params, rng) -> c.Selection:
    known, unknown = c.by_greedy(table)
    van, idk = c.draw(rng, known, p.n_van, p.replace), c.draw(rng, unknown, p.n_idk, p.replace)
    rows = ([{"id": r["id"], "label": "vanilla", "target": rtuning_unsure(r["gold"], sure=True)} for r in van]
            + [{"id": r["id"], "label": "idk", "target": rtuning_unsure(r["gold"], sure=False)} for r in idk])
    return c.Selection.targets(rows, p.asked, (known, unknown))


METHOD = Method(
    name="r-tuning-unsure", style="refuse",
    description="R-Tuning (unsure): gold answer + 'I am sure/unsure.' (Zhang et al., NAACL 2024)",
    refusals=(RTUNING_UNSURE,), select=select, table="answers", confidence=True,
)
