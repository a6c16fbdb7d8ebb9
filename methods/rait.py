"""Cor-RAIT (R-Tuning style, the RAIT baseline of arXiv 2410.06913): query M0's correctness; known
questions keep their answer, unknown ones are relabelled "I don't know"; N_van and N_idk drawn at
random; SFT M0 on the union."""
from harness import construct as c, pipeline
from harness.prompts import IDK

NAME, STYLE, VERSION, TABLE = "rait", "refuse", 1, "knowledge"
DESCRIPTION = "Cor-RAIT: correctness split, random draw (R-Tuning style baseline of CRaFT)"
REFUSALS = (IDK,)


def select(table: list, p: c.Params, rng) -> c.Selection:
    van, idk = c.candidates(table, p.thresholds)
    return c.Selection.of(c.draw(rng, van, p.n_van, p.replace), c.draw(rng, idk, p.n_idk, p.replace),
                          p.asked, (van, idk))


def stages(kind: str) -> list:
    return [*pipeline.knowledge_stages(kind, TABLE), pipeline.build_stage(NAME, kind, select, VERSION, TABLE),
            pipeline.crss_stage(NAME, kind), pipeline.train_stage(NAME, kind)]
