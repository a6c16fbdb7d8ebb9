"""The method contract: everything a RAIT method may declare, with its defaults, and the stages that
follow from it. A method file builds one `Method` (its `METHOD`); `methods/__init__.py` registers it.

An untuned method (no `select`) has no stages: it is scored as the model is. A method that builds a
training set reads a knowledge table (`table`, a key of construct.COLUMNS), picks its rows with
`select(table, params, rng)`, and trains M0 on them: SFT, or with `preference` SFT on the chosen
answers and then DPO. A stage a method needs that no other has (GRAIT's gradients) comes from
`extra_stages(kind)`, run after the knowledge stages and before the build, which joins the columns
they write (layout.COLUMNS) to the table `select` reads."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from harness.data.prompts import STYLES
from harness.knowledge.construct import COLUMNS
from harness.run import layout
from harness.run.stage import Stage
from harness.scoring.classify import is_refusal
from harness.stages.build import build_stage, crss_stage
from harness.stages.knowledge import knowledge_stages
from harness.stages.training import preference_stage, train_stage


@dataclass(frozen=True)
class Method:
    name: str
    style: str                        # the test-time prompt: "basic", or "refuse" (allows "I don't know")
    description: str                  # one line, with its paper
    refusals: tuple[str, ...] = ()    # the refusal targets it trains; every run's detector counts them
    select: Callable | None = None    # (table, construct.Params, rng) -> construct.Selection; None: untuned
    table: str = "pool"               # what `select` reads (construct.COLUMNS)
    version: int = 1                  # the build stage's code version: bump it when `select` changes
    unsupported: Mapping[str, str] = field(default_factory=dict)   # {kind: why its paper does not define it}
    crss: bool = True                 # the conflict rate of similar samples of its training set
    preference: object | None = None  # training.dpo.Preference: DPO after SFT on the chosen answers
    extra_stages: Callable[[str], list[Stage]] | None = None
    confidence: bool = False          # R-Tuning's AP of its test answers (stages.confidence)

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"method {self.name}: style must be one of {', '.join(STYLES)}, "
                             f"got {self.style!r}")
        if self.table not in COLUMNS:
            raise ValueError(f"method {self.name}: table must be one of {', '.join(COLUMNS)}, got {self.table!r}")
        missed = [r for r in self.refusals if not is_refusal(r)]
        if missed:
            raise ValueError(f"method {self.name}: the refusal detector does not count {missed}; add the "
                             "target's signature to harness.data.prompts.REFUSAL_SIGNATURES")

    @property
    def trains(self) -> bool:
        return self.select is not None

    def runs_on(self, kind: str) -> bool:
        return kind not in self.unsupported

    def stages(self, kind: str) -> list[Stage]:
        """The stages that produce its model for a domain ("open" or "choice"), the trained one last."""
        if not self.trains:
            return []
        extra = self.extra_stages(kind) if self.extra_stages else []
        return [*knowledge_stages(kind, self.table), *extra,
                build_stage(self.name, kind, self.select, self.version, self.table, [s.name for s in extra]),
                *([crss_stage(self.name, kind)] if self.crss else []), *self.training(kind)]

    def training(self, kind: str) -> list[Stage]:
        if self.preference is None:
            return [train_stage(self.name, kind)]
        return [train_stage(self.name, kind, sft_first=True), preference_stage(self.name, kind, self.preference)]

    def trained_by(self, kind: str) -> str | None:
        """The stage whose folder holds its trained model (None for an untuned method)."""
        return layout.train(kind, self.name) if self.trains else None
