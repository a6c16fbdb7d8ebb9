"""Building blocks of training-set construction; each method file composes them in its `select`.

A knowledge table has one row per training question: `id`, the model's `correctness` mu and
`certainty`, and for the flow methods `correctness_rehearsal` (mu after rehearsal). A method's
`select(table, params, rng)` decides which questions keep their gold answer ("vanilla") and which
are relabelled "I don't know" ("idk"), and returns a Selection that records what was asked, how many
candidates there were and the shortfall. The blocks follow CRaFT (arXiv 2410.06913, Sec. 3-4) and
its released code (github.com/opendatalab/CRaFT).

Certainty sorting is stable: ties keep the original table order, so a selection is a pure function
of (table, params, seed). Random draws share one `random.Random(seed)`, vanilla drawn first.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from harness.run.io import read_jsonl, write_jsonl

# What a method's table must hold (its TABLE): the pool's questions, M0's knowledge, or both queries.
COLUMNS = {"pool": ("id",), "knowledge": ("id", "correctness", "certainty"),
           "flow": ("id", "correctness", "certainty", "correctness_rehearsal"),
           # M0's answers too: its greedy answer (greedy_correct 0/1), and per row `gold`, `greedy`,
           # `samples` with `sample_correct` (OEQA); the methods that put M0's own words in their targets
           "answers": ("id", "correctness", "certainty", "greedy_correct"),
           # M0's knowledge and, for the candidates, `gradient`: a unit LoRA gradient feature (GRAIT)
           "gradients": ("id", "correctness", "certainty")}


def _is_number(v) -> bool:
    # bool is an int subclass; a True/False correctness is a data bug, not 1/0.
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class Thresholds:
    """Vanilla iff mu >= hi; idk iff mu <= lo (or mu < lo if not lo_inclusive)."""

    lo: float
    hi: float
    lo_inclusive: bool = True

    def __post_init__(self) -> None:
        for name in ("lo", "hi"):
            v = getattr(self, name)
            if not _is_number(v) or not 0.0 <= v <= 1.0:
                raise ValueError(f"Thresholds.{name}={v!r} must be a number in [0, 1]")
        if self.lo > self.hi:
            raise ValueError(f"Thresholds.lo={self.lo!r} must be <= hi={self.hi!r}")
        # With lo == hi an inclusive lo would put mu == lo in both sets.
        if self.lo == self.hi and self.lo_inclusive:
            raise ValueError(
                f"Thresholds.lo == hi == {self.lo!r} requires lo_inclusive=False "
                "(otherwise vanilla and idk candidates overlap)")

    def is_van(self, mu: float) -> bool:
        return mu >= self.hi

    def is_idk(self, mu: float) -> bool:
        return mu <= self.lo if self.lo_inclusive else mu < self.lo


# OEQA code defaults (tau_lo=0.49, tau_hi=0.51): the 0.5 band is left out.
OEQA_THRESHOLDS = Thresholds(0.49, 0.51, True)


def from_tau(tau: float) -> Thresholds:
    """MCQA form: vanilla iff mu >= tau, idk iff mu < tau."""
    return Thresholds(tau, tau, False)


def mcqa(tau: float = 0.5) -> Thresholds:
    return from_tau(tau)


@dataclass(frozen=True)
class Params:
    """What a selection is asked for: thresholds, sizes, and the code's two MCQA switches."""
    thresholds: Thresholds
    n_van: int
    n_idk: int
    keep_zero_flow: bool = False       # keep flow == 0 in D_idk (the MCQA code)
    replace: bool = False              # draw with replacement (the MCQA code's sample(n, replace=True))
    idk: str = "I don't know"          # the domain's "I don't know" target (prompts.idk_target)

    def __post_init__(self) -> None:
        for name in ("n_van", "n_idk"):
            n = getattr(self, name)
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ValueError(f"{name}={n!r} must be a non-negative integer")
        if not isinstance(self.thresholds, Thresholds):
            raise ValueError(f"thresholds must be a Thresholds, got {type(self.thresholds).__name__}")

    @property
    def asked(self) -> tuple[int, int]:
        return self.n_van, self.n_idk


def params(d, idk: str = "I don't know") -> Params:
    """A domain config's selection parameters (tau_lo == tau_hi is the MCQA form)."""
    th = from_tau(d.tau_lo) if d.tau_lo == d.tau_hi else Thresholds(d.tau_lo, d.tau_hi, True)
    return Params(th, d.n_van, d.n_idk, d.keep_zero_flow, d.draw_with_replacement, idk)


@dataclass(frozen=True)
class Selection:
    rows: tuple  # ({"id", "label"}, ...): vanilla rows first, each in selection order
    n_van_asked: int
    n_idk_asked: int
    n_van_candidates: int
    n_idk_candidates: int
    picked: tuple | None = None   # (vanilla, idk) questions picked, where a question gives several rows
    # the ids of the (vanilla, idk) candidates, as the method's own rule found them (analysis explains
    # a selection by them; not in the manifest)
    candidate_ids: tuple = field(default=((), ()), compare=False, repr=False)

    @classmethod
    def of(cls, van: Sequence[Mapping], idk: Sequence[Mapping], asked: tuple[int, int],
           candidates: tuple[Sequence, Sequence]) -> "Selection":
        """The picked vanilla and idk rows, what was asked (n_van, n_idk) and the candidate sets."""
        rows = tuple([{"id": r["id"], "label": "vanilla"} for r in van]
                     + [{"id": r["id"], "label": "idk"} for r in idk])
        return cls(rows, asked[0], asked[1], len(candidates[0]), len(candidates[1]), None, _ids(candidates))

    @classmethod
    def targets(cls, rows: Sequence[Mapping], asked: tuple[int, int], candidates: tuple[Sequence, Sequence],
                picked: tuple[int, int] | None = None) -> "Selection":
        """Rows that carry their own target ({"id", "label", "target"}, and "weight" where the method
        weighs its loss): the methods whose targets are not simply the gold answer or "I don't know".
        "vanilla" marks a row whose target answers, "idk" one whose target refuses."""
        for i, r in enumerate(rows):
            if r.get("label") not in ("vanilla", "idk") or not isinstance(r.get("target"), str):
                raise ValueError(f"selection row {i}: needs label vanilla/idk and a target string, got {dict(r)}")
        return cls(tuple(dict(r) for r in rows), asked[0], asked[1], len(candidates[0]), len(candidates[1]), picked,
                   _ids(candidates))

    def _count(self, label: str) -> int:
        return sum(1 for r in self.rows if r["label"] == label)

    @property
    def shortfall(self) -> dict:
        van, idk = self.picked if self.picked is not None else (self._count("vanilla"), self._count("idk"))
        return {"vanilla": max(0, self.n_van_asked - van), "idk": max(0, self.n_idk_asked - idk)}

    def _unique(self, label: str) -> int:
        return len({r["id"] for r in self.rows if r["label"] == label})

    def to_manifest(self) -> dict:
        return {"n_vanilla": self._count("vanilla"), "n_idk": self._count("idk"),
                "n_vanilla_unique": self._unique("vanilla"), "n_idk_unique": self._unique("idk"),
                "n_van_asked": self.n_van_asked, "n_idk_asked": self.n_idk_asked,
                "n_van_candidates": self.n_van_candidates,
                "n_idk_candidates": self.n_idk_candidates,
                "shortfall": self.shortfall,
                **({"questions_picked": list(self.picked)} if self.picked is not None else {})}


def _ids(candidates: tuple[Sequence, Sequence]) -> tuple:
    return tuple(tuple(r["id"] for r in rows) for rows in candidates)


def validate_table(rows: Sequence[Mapping], table: str) -> None:
    """Raise ValueError naming the first bad row (index) and column; `table` is a key of COLUMNS."""
    if table not in COLUMNS:
        raise ValueError(f"unknown table {table!r}; valid: {', '.join(COLUMNS)}")
    columns = COLUMNS[table]
    seen: dict = {}
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"row {i}: expected a mapping, got {type(row).__name__}")
        for col in columns:
            if col not in row:
                raise ValueError(f"row {i}: missing column {col!r} (needed by a {table!r} table)")
        rid = row["id"]
        if isinstance(rid, bool) or not isinstance(rid, (str, int)):
            raise ValueError(f"row {i}: id {rid!r} must be a str or int")
        if rid in seen:
            raise ValueError(f"row {i}: duplicate id {rid!r} (first at row {seen[rid]})")
        seen[rid] = i
        for col in columns[1:]:
            v = row[col]
            if not _is_number(v):
                raise ValueError(f"row {i}: {col}={v!r} must be a finite number")
            if col != "certainty" and not 0.0 <= v <= 1.0:
                raise ValueError(f"row {i}: {col}={v!r} outside [0, 1]")


def apply(select, table: str, rows: Sequence[Mapping], p: Params, seed: int = 0) -> Selection:
    """A method's `select` on rows first checked to hold what its table (a key of COLUMNS) needs."""
    validate_table(rows, table)
    return select(list(rows), p, random.Random(seed))


# ---------------------------------------------------------------- the blocks methods compose

def candidates(table: Sequence[Mapping], th: Thresholds) -> tuple[list, list]:
    """(D_van1, D_idk1): questions the model knows (mu >= hi) and does not know (mu <= lo)."""
    return ([r for r in table if th.is_van(r["correctness"])],
            [r for r in table if th.is_idk(r["correctness"])])


def drop_rising_flow(rows: Sequence[Mapping], keep_zero: bool = False) -> list:
    """Keep the rows whose knowledge flow d_mu = mu~ - mu is negative: rehearsal made the model worse
    on them, so they are genuinely unknown. The MCQA code also keeps d_mu == 0."""
    def falls(r) -> bool:
        d_mu = r["correctness_rehearsal"] - r["correctness"]
        return d_mu <= 0 if keep_zero else d_mu < 0
    return [r for r in rows if falls(r)]


def draw(rng: random.Random, rows: Sequence, n: int, replace: bool = False) -> list:
    """n rows at random: without replacement at most len(rows), with replacement exactly n (none
    from an empty list)."""
    if replace:
        return rng.choices(list(rows), k=n) if rows else []
    return rng.sample(list(rows), min(n, len(rows)))


def _ranked(rows: Sequence[Mapping], n: int, rng: random.Random, pad: bool, most: bool) -> list:
    # sorted() is stable (also with reverse=True): ties keep table order.
    pick = sorted(rows, key=lambda r: r["certainty"], reverse=most)[:n]
    if pad and len(pick) < n:
        pick = draw(rng, pick, n, replace=True)    # mmlu_RAI.py: n draws from a short ranked pick
    return pick


def most_certain(rows: Sequence[Mapping], n: int, rng: random.Random, pad: bool = False) -> list:
    """The n most certain rows; with pad (the MCQA code), a pick shorter than n becomes n draws
    with replacement from itself."""
    return _ranked(rows, n, rng, pad, most=True)


def least_certain(rows: Sequence[Mapping], n: int, rng: random.Random, pad: bool = False) -> list:
    """The n least certain rows, padded as most_certain."""
    return _ranked(rows, n, rng, pad, most=False)


def read_table(path) -> list:
    """Read a JSONL knowledge table; blank lines are skipped, a bad line is named."""
    return read_jsonl(path)


def write_selection(selection: Selection, path) -> None:
    """Write {"id","label"} (and a method's own "target", "weight") JSONL atomically, so a crash never leaves half a file."""
    write_jsonl(path, (dict(r) for r in selection.rows))


# ---------------------------------------------------------------- blocks on M0's answers ("answers" tables)

def by_greedy(table: Sequence[Mapping]) -> tuple[list, list]:
    """(known, unknown): M0's greedy answer right or wrong (R-Tuning's split)."""
    return ([r for r in table if r["greedy_correct"] == 1], [r for r in table if r["greedy_correct"] != 1])


def by_accuracy(table: Sequence[Mapping], threshold: float) -> tuple[list, list]:
    """(known, unknown): the share of M0's samples that are right at or above `threshold`, or below
    (Idk-SFT's split by its Ik threshold)."""
    def accuracy(r: Mapping) -> float:
        return sum(r["sample_correct"]) / len(r["sample_correct"])
    return [r for r in table if accuracy(r) >= threshold], [r for r in table if accuracy(r) < threshold]


def by_any_right_sample(table: Sequence[Mapping]) -> tuple[list, list]:
    """(known, unknown): at least one of M0's samples right, or none (Alignment for Honesty's k > 0)."""
    return [r for r in table if any(r["sample_correct"])], [r for r in table if not any(r["sample_correct"])]


def best_known(rows: Sequence[Mapping], n: int) -> list:
    """The n rows of highest correctness, table order on ties (GRAIT's answer pool)."""
    return sorted(rows, key=lambda r: -r["correctness"])[:n]


def correct_samples(row: Mapping) -> list[str]:
    return [s for s, ok in zip(row["samples"], row["sample_correct"]) if ok]


def known_answer(row: Mapping) -> str | None:
    """Alignment for Honesty's response: the greedy answer if right, else the first right sample, else
    None (none of the 1 + n answers was right)."""
    if row["greedy_correct"] == 1:
        return row["greedy"]
    right = correct_samples(row)
    return right[0] if right else None
