"""Method plugins (installed as `harness.methods`): one module a method, each building its `METHOD`,
a harness.method.Method (the contract: every attribute a method may have, with its default).
Adding a method is one file and one line below."""
from __future__ import annotations

from harness.method import Method
from harness.methods import (corcer_rait, craft, craft_wo_cer, grait, honesty_absolute, honesty_conf_verb,
                             honesty_multisample, idk_dpo, idk_sft, init_basic, init_refuse, r_tuning, r_tuning_unsure, rait,
                             van_tuning)

METHODS: dict[str, Method] = {
    "init-basic": init_basic.METHOD,
    "init-refuse": init_refuse.METHOD,
    "van-tuning": van_tuning.METHOD,
    "rait": rait.METHOD,
    "corcer-rait": corcer_rait.METHOD,
    "craft-wo-cer": craft_wo_cer.METHOD,
    "craft": craft.METHOD,
    "r-tuning": r_tuning.METHOD,
    "r-tuning-unsure": r_tuning_unsure.METHOD,
    "idk-sft": idk_sft.METHOD,
    "idk-dpo": idk_dpo.METHOD,
    "honesty-absolute": honesty_absolute.METHOD,
    "honesty-conf-verb": honesty_conf_verb.METHOD,
    "honesty-multisample": honesty_multisample.METHOD,
    "grait": grait.METHOD,
}


def method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(METHODS)}")
    return METHODS[name]


def unsupported(name: str, kind: str) -> str | None:
    """Why a method does not run on a domain ("open"/"choice"), or None where it does."""
    return method(name).unsupported.get(kind)


def selectors() -> dict[str, Method]:
    """The methods that construct a training set from a table, by name."""
    return {name: m for name, m in METHODS.items() if m.trains}
