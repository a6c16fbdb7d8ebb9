"""CRaFT "w/o Cer" (arXiv 2410.06913 Table 3): Cor-RAIT's candidates plus the knowledge-flow filter
(drop idk candidates whose correctness rises under rehearsal), drawn at random."""
from harness import construct as c, pipeline
from harness.prompts import IDK

NAME, STYLE, VERSION, TABLE = "craft-wo-cer", "refuse", 1, "flow"
DESCRIPTION = "correctness split + flow filter, random draw (CRaFT w/o certainty, AAAI 2025 ablation)"
REFUSALS = (IDK,)


def select(table: list, p: c.Params, rng) -> c.Selection:
    van, idk = c.candidates(table, p.thresholds)
    idk = c.drop_rising_flow(idk, keep_zero=p.keep_zero_flow)
    return c.Selection.of(c.draw(rng, van, p.n_van, p.replace), c.draw(rng, idk, p.n_idk, p.replace),
                          p.asked, (van, idk))


def stages(kind: str) -> list:
    return [*pipeline.knowledge_stages(kind, TABLE), pipeline.build_stage(NAME, kind, select, VERSION, TABLE),
            pipeline.crss_stage(NAME, kind), pipeline.train_stage(NAME, kind)]
