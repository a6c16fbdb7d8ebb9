"""Van-Tuning (arXiv 2410.06913 Sec. 5): SFT on N_van + N_idk random pool questions with their
original answers, no refusals (drawn with replacement where the domain draws so, as the MCQA code's
`sample(n, replace=True)`)."""
from harness import construct as c, pipeline

NAME, STYLE, VERSION, TABLE = "van-tuning", "refuse", 1, "pool"
DESCRIPTION = "SFT on random samples, original answers (vanilla baseline of CRaFT)"
REFUSALS = ()


def select(table: list, p: c.Params, rng) -> c.Selection:
    want = p.n_van + p.n_idk
    return c.Selection.of(c.draw(rng, table, want, p.replace), [], (want, 0), (table, []))


def stages(kind: str) -> list:
    return [*pipeline.knowledge_stages(kind, TABLE), pipeline.build_stage(NAME, kind, select, VERSION, TABLE),
            pipeline.train_stage(NAME, kind)]
