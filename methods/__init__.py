"""Method plugins (installed as `harness.methods`). A method is one module with NAME, STYLE (its
test-time prompt), DESCRIPTION (one line, with its paper), VERSION, REFUSALS (its refusal targets:
every run's detector counts them, harness.metrics.METHOD_REFUSALS) and `stages(kind)` -> the stages
that produce its model for a domain ("open" or "choice"), the last `/train` stage holding the
trained model; an untuned method has no stages. A domain its paper does not define is in
UNSUPPORTED ({kind: reason}): the CLI refuses the pair with that reason. A method that constructs a training set also has
TABLE (what its table holds: construct.COLUMNS) and `select(table, params, rng)`; `harness
construct --method` offers it. Adding a method is one file and one line below."""
from __future__ import annotations

from typing import Protocol

from harness.methods import (corcer_rait, craft, craft_wo_cer, grait, honesty_absolute, honesty_conf_verb,
                             honesty_multisample, idk_dpo, idk_sft, init_basic, init_refuse, r_tuning, r_tuning_unsure, rait,
                             van_tuning)


class Method(Protocol):
    NAME: str
    STYLE: str
    DESCRIPTION: str

    def stages(self, kind: str) -> list: ...


METHODS = {
    "init-basic": init_basic,
    "init-refuse": init_refuse,
    "van-tuning": van_tuning,
    "rait": rait,
    "corcer-rait": corcer_rait,
    "craft-wo-cer": craft_wo_cer,
    "craft": craft,
    "r-tuning": r_tuning,
    "r-tuning-unsure": r_tuning_unsure,
    "idk-sft": idk_sft,
    "idk-dpo": idk_dpo,
    "honesty-absolute": honesty_absolute,
    "honesty-conf-verb": honesty_conf_verb,
    "honesty-multisample": honesty_multisample,
    "grait": grait,
}


def method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(METHODS)}")
    return METHODS[name]


def unsupported(name: str, kind: str) -> str | None:
    """Why a method does not run on a domain ("open"/"choice"), or None where it does."""
    return getattr(method(name), "UNSUPPORTED", {}).get(kind)


def selectors() -> dict:
    """The methods that construct a training set from a table, by name."""
    return {name: m for name, m in METHODS.items() if hasattr(m, "select")}
