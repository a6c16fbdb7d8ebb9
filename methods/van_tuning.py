"""Van-Tuning (arXiv 2410.06913 Sec. 5): SFT on N_van + N_idk random pool questions with their
original answers, no refusals (drawn with replacement where the domain draws so, as the MCQA code's
`sample(n, replace=True)`)."""
from harness.knowledge import construct as c
from harness.method import Method


def select(table: list, p: c.Params, rng) -> c.Selection:
    want = p.n_van + p.n_idk
    return c.Selection.of(c.draw(rng, table, want, p.replace), [], (want, 0), (table, []))


METHOD = Method(
    name="van-tuning", style="refuse",
    description="SFT on random samples, original answers (vanilla baseline of CRaFT)",
    refusals=(), select=select, table="pool", crss=False,
)
