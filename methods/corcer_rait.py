"""CorCer-RAIT (CRaFT "w/o Flow", arXiv 2410.06913 Table 3): Cor-RAIT's candidates, but D_van takes
the most certain and D_idk the least certain questions."""
from harness import construct as c, pipeline
from harness.prompts import IDK

NAME, STYLE, VERSION, TABLE = "corcer-rait", "refuse", 1, "knowledge"
DESCRIPTION = "correctness split, certainty-ranked (CRaFT w/o flow, AAAI 2025 ablation)"
REFUSALS = (IDK,)


def select(table: list, p: c.Params, rng) -> c.Selection:
    van, idk = c.candidates(table, p.thresholds)
    return c.Selection.of(c.most_certain(van, p.n_van, rng, pad=p.replace),
                          c.least_certain(idk, p.n_idk, rng, pad=p.replace), p.asked, (van, idk))


def stages(kind: str) -> list:
    return [*pipeline.knowledge_stages(kind, TABLE), pipeline.build_stage(NAME, kind, select, VERSION, TABLE),
            pipeline.crss_stage(NAME, kind), pipeline.train_stage(NAME, kind)]
