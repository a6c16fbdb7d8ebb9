"""Method plugins. A method is a module with NAME, STYLE (test-time prompt), DESCRIPTION and
`stages(kind)` -> the stages that produce its model for a domain ("open" or "choice"); the last
stage's folder holds the trained model. Untuned methods return no stages."""
from __future__ import annotations

from typing import Protocol

from methods import corcer_rait, craft, craft_wo_cer, init_basic, init_refuse, rait, van_tuning


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
}
REFERENCE = "init-basic"     # E1 of THS and the reference of over-refusal


def method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(METHODS)}")
    return METHODS[name]
