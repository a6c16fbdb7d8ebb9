"""Training-set construction for the refusal-aware (RAIT) methods.

Given a knowledge table (one row per training question, with the model's
``correctness`` mu, its ``certainty`` and, for the flow methods, the
``correctness_rehearsal`` measured after rehearsal training), decide which
questions keep their gold answer ("vanilla") and which are relabelled
"I don't know" ("idk").  Rules follow CRaFT (arXiv 2410.06913, Sec. 3-4) and
its released code (github.com/opendatalab/CRaFT):

* ``rait``         -- Cor-RAIT: threshold on mu, random draw.
* ``corcer-rait``  -- same candidates; vanilla = most certain, idk = least.
* ``craft-wo-cer`` -- Cor-RAIT candidates + knowledge-flow filter, random draw.
* ``craft``        -- flow filter, then vanilla = most certain, idk = least.

Certainty sorting is stable: ties keep the original table order, so the
output is a pure function of (table, arguments).  Random draws use one
``random.Random(seed)``: the vanilla draw first, then the idk draw.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Mapping, Sequence

from harness.io import read_jsonl, write_jsonl

METHOD_RULES = ("rait", "corcer-rait", "craft-wo-cer", "craft")
FLOW_METHODS = ("craft-wo-cer", "craft")
_SORTED_METHODS = ("corcer-rait", "craft")
_BASE_COLUMNS = ("id", "correctness", "certainty")


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
class Selection:
    rows: tuple  # ({"id", "label"}, ...): vanilla rows first, each in selection order
    n_van_asked: int
    n_idk_asked: int
    n_van_candidates: int
    n_idk_candidates: int

    def _count(self, label: str) -> int:
        return sum(1 for r in self.rows if r["label"] == label)

    @property
    def shortfall(self) -> dict:
        return {"vanilla": max(0, self.n_van_asked - self._count("vanilla")),
                "idk": max(0, self.n_idk_asked - self._count("idk"))}

    def _unique(self, label: str) -> int:
        return len({r["id"] for r in self.rows if r["label"] == label})

    def to_manifest(self) -> dict:
        return {"n_vanilla": self._count("vanilla"), "n_idk": self._count("idk"),
                "n_vanilla_unique": self._unique("vanilla"), "n_idk_unique": self._unique("idk"),
                "n_van_asked": self.n_van_asked, "n_idk_asked": self.n_idk_asked,
                "n_van_candidates": self.n_van_candidates,
                "n_idk_candidates": self.n_idk_candidates,
                "shortfall": self.shortfall}


def _check_method(method: str) -> None:
    if method not in METHOD_RULES:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHOD_RULES)}")


def _check_count(name: str, n) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"{name}={n!r} must be a non-negative integer")


def validate_table(table: Sequence[Mapping], method: str) -> None:
    """Raise ValueError naming the first bad row (index) and column."""
    _check_method(method)
    columns = _BASE_COLUMNS + (("correctness_rehearsal",) if method in FLOW_METHODS else ())
    seen: dict = {}
    for i, row in enumerate(table):
        if not isinstance(row, Mapping):
            raise ValueError(f"row {i}: expected a mapping, got {type(row).__name__}")
        for col in columns:
            if col not in row:
                raise ValueError(f"row {i}: missing column {col!r} (needed by {method!r})")
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


def _flow_ok(row: Mapping, keep_zero_flow: bool) -> bool:
    # Knowledge flow d_mu < 0: rehearsal made the model worse on the question,
    # so it is genuinely unknown.  The MCQA code also keeps d_mu == 0.
    d_mu = row["correctness_rehearsal"] - row["correctness"]
    return d_mu <= 0 if keep_zero_flow else d_mu < 0


def _candidates(method, table, thresholds, keep_zero_flow):
    van = [r for r in table if thresholds.is_van(r["correctness"])]
    idk = [r for r in table if thresholds.is_idk(r["correctness"])]
    if method in FLOW_METHODS:
        idk = [r for r in idk if _flow_ok(r, keep_zero_flow)]
    return van, idk


def draw(rng: random.Random, rows: list, n: int, replace: bool) -> list:
    """n rows at random: without replacement at most len(rows), with replacement exactly n (none
    from an empty list)."""
    if replace:
        return rng.choices(rows, k=n) if rows else []
    return rng.sample(rows, min(n, len(rows)))


def select(method: str, table: Sequence[Mapping], n_van: int, n_idk: int,
           thresholds: Thresholds, seed: int = 0,
           keep_zero_flow: bool = False, replace: bool = False) -> Selection:
    """Pick up to n_van vanilla and n_idk idk rows; shortfalls are recorded, never padded.

    replace=True is the MCQA code (mmlu_RAI.py): random draws are `sample(n, replace=True)`, and a
    certainty-ranked pick shorter than asked is replaced by n draws with replacement from itself;
    the manifest then counts unique questions beside rows. An empty candidate set stays a shortfall."""
    _check_method(method)
    _check_count("n_van", n_van)
    _check_count("n_idk", n_idk)
    if not isinstance(thresholds, Thresholds):
        raise ValueError(f"thresholds must be a Thresholds, got {type(thresholds).__name__}")
    validate_table(table, method)
    van, idk = _candidates(method, table, thresholds, keep_zero_flow)
    rng = random.Random(seed)
    if method in _SORTED_METHODS:
        # sorted() is stable (also with reverse=True): ties keep table order.
        van_pick = sorted(van, key=lambda r: r["certainty"], reverse=True)[:n_van]
        idk_pick = sorted(idk, key=lambda r: r["certainty"])[:n_idk]
        if replace and len(van_pick) < n_van:
            van_pick = draw(rng, van_pick, n_van, True)
        if replace and len(idk_pick) < n_idk:
            idk_pick = draw(rng, idk_pick, n_idk, True)
    else:
        van_pick = draw(rng, van, n_van, replace)
        idk_pick = draw(rng, idk, n_idk, replace)
    rows = tuple([{"id": r["id"], "label": "vanilla"} for r in van_pick]
                 + [{"id": r["id"], "label": "idk"} for r in idk_pick])
    return Selection(rows, n_van, n_idk, len(van), len(idk))


def read_table(path) -> list:
    """Read a JSONL knowledge table; blank lines are skipped, a bad line is named."""
    return read_jsonl(path)


def write_selection(selection: Selection, path) -> None:
    """Write {"id","label"} JSONL atomically, so a crash never leaves half a file."""
    write_jsonl(path, ({"id": r["id"], "label": r["label"]} for r in selection.rows))
