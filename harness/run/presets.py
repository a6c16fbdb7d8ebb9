"""The presets: the paper's settings, and smaller ones sized for a CPU (smoke, tiny, study, geo-*);
`preset(name)` takes a name or a YAML file of overrides on one."""
from __future__ import annotations

import dataclasses
from dataclasses import replace
from pathlib import Path

from harness.run.config import SFTConfig, DomainConfig, Preset


def _paper() -> Preset:
    """The released CRaFT code's protocol (SPEC sections 1 and 3; docs/fidelity.md row by row).
    Batching: 4 GPUs x 16 accumulation x 1 sequence packed to 2,048 tokens = a global batch of 64
    packed sequences; here batch_size 4 x grad_accum 16 (on N GPUs each takes 4/N)."""
    full = SFTConfig(mode="full", epochs=3, lr=8e-6, batch_size=4, grad_accum=16, max_length=2048,
                     packing=True)
    lora = SFTConfig(mode="lora", epochs=3, lr=2e-4, batch_size=4, grad_accum=16, max_length=2048,
                     packing=True, lora_r=64, lora_alpha=16, lora_dropout=0.1,
                     target_modules=("all-linear",), load_in_4bit=True)
    return Preset(
        name="paper",
        open=DomainConfig(kind="open", pool_dataset="triviaqa", pool_split="train", pool_size=None,
                          n_van=8000, n_idk=2000, sft=full,
                          rehearsal_sft=replace(full, lr=2e-6, warmup_ratio=0.0)),
        choice=DomainConfig(kind="choice", pool_dataset="mmlu", pool_split="test", pool_size=None,
                            n_van=4000, n_idk=1000, sft=lora, rehearsal_sft=lora, n_shot=5,
                            query_chat_template=False, tau_lo=0.5, tau_hi=0.5,
                            rehearsal_min_correctness=0.99, rehearsal_min_certainty=None,
                            keep_zero_flow=True, draw_with_replacement=True, option_scoring="continuation"),
        n_test=None)


def _scaled(base: Preset, name: str, pool: int, n_van: int, n_idk: int, rehearsal: int,
            n_samples: int, n_test: int, sft: SFTConfig, choice_shots: int) -> Preset:
    def scale(d: DomainConfig) -> DomainConfig:
        return replace(d, pool_size=pool, n_van=n_van, n_idk=n_idk, rehearsal_size=rehearsal,
                       n_samples=n_samples, sft=sft, rehearsal_sft=sft, temperature=0.7,
                       query_max_new_tokens=16)
    choice = replace(scale(base.choice), n_shot=choice_shots, query_chat_template=True,
                     choice_entropy="renormalized", draw_with_replacement=False, option_scoring="next_token")
    return replace(base, name=name, open=scale(base.open), choice=choice, n_test=n_test,
                   scoring=replace(base.scoring, mmlu_average="micro"))


PAPER = _paper()
# The CPU presets keep the code's protocol (prompts, scorers, flow rules) except where a 135M model on
# 2 cores needs otherwise: LoRA everywhere, T 0.7, a seeded pool sample, fewer samples, shots and test
# questions, the chat template and bare-letter scoring in the MCQA query, no drawing with replacement,
# MMLU micro-averaged. Each departure and its reason: docs/fidelity.md. Micro-batches of 2 rows, 4
# accumulated: the paper's global batch of 8 at a third of the peak memory (docs/performance.md).
_CPU_SFT = SFTConfig(mode="lora", epochs=2, lr=3e-4, batch_size=2, grad_accum=4, lora_r=16, lora_alpha=32,
                     lora_dropout=0.05)
_TINY_SFT = SFTConfig(mode="lora", epochs=2, lr=3e-4, batch_size=4, lora_r=4, lora_alpha=8, lora_dropout=0.0)


def _tiny(smoke: Preset) -> Preset:
    """A dozen questions per domain, four test questions: checks that a pipeline runs (a minute or two
    on CPU), says nothing about a method. Two epochs, so SFT leaves a checkpoint to resume from."""
    def shrink(d: DomainConfig) -> DomainConfig:
        return replace(d, pool_size=12, n_van=4, n_idk=2, rehearsal_size=3, n_samples=2,
                       query_max_new_tokens=12, sft=_TINY_SFT, rehearsal_sft=_TINY_SFT)
    return replace(smoke, name="tiny", open=shrink(smoke.open), choice=shrink(smoke.choice), n_test=4,
                   eval_max_new_tokens_open=12)


PRESETS = {
    "smoke": _scaled(PAPER, "smoke", pool=150, n_van=40, n_idk=10, rehearsal=24, n_samples=6,
                     n_test=100, sft=_CPU_SFT, choice_shots=0),
    "small": _scaled(PAPER, "small", pool=1000, n_van=400, n_idk=100, rehearsal=100, n_samples=10,
                     n_test=500, sft=replace(_CPU_SFT, epochs=3), choice_shots=1),
    "paper": PAPER,
}
PRESETS = {"tiny": _tiny(PRESETS["smoke"]), **PRESETS}


def _study(smoke: Preset) -> Preset:
    """The CPU study (`make study`, leaderboards/study/): OEQA only, TriviaQA in-domain and NQ out of
    domain, sized with `harness plan` so that no method falls short and every candidate set holds at
    least twice what is drawn (MCQA is at chance for SmolLM2-135M and left out).
    N_van 24 and N_idk 12 in a pool of 2,400 at 3 samples, and the side-effect tasks' sizes, come from
    the pilot's figures (leaderboards/study/README.md, "How it was sized")."""
    open_ = replace(smoke.open, pool_size=2400, n_van=24, n_idk=12, n_samples=3, rehearsal_size=100,
                    sft=replace(_CPU_SFT, epochs=3), rehearsal_sft=replace(_CPU_SFT, epochs=3))
    return replace(smoke, name="study", open=open_, n_test=1000, domains=("open",),
                   n_test_tasks={"nq": 500, "selfaware": 300, "xstest": 450, "gsm8k": 100})


PRESETS["study"] = _study(PRESETS["smoke"])


def _geo(smoke: Preset, name: str, pool: int, n_van: int, n_idk: int, n_test: int) -> Preset:
    """smoke's protocol on the popularity-graded geo tasks (harness/data/geo.py, SPEC section 8): the pools
    are geo_city's and geo_city_mc's training cities, the in-domain tests their test cities, and
    geo_capital / geo_continent the out-of-domain ones. Correctness is `strict` (whole words):
    under the code's raw substring, "Romania" would count as right for a city in Oman and "Somalia"
    for one in Mali. Answers get 24 query tokens ("The city of Pudong is in China." is cut at 12)."""
    def pool_of(d: DomainConfig, dataset: str) -> DomainConfig:
        return replace(d, pool_dataset=dataset, pool_split="train", pool_size=pool, n_van=n_van, n_idk=n_idk,
                       query_max_new_tokens=24)
    return replace(smoke, name=name, open=pool_of(smoke.open, "geo_city"), choice=pool_of(smoke.choice, "geo_city_mc"),
                   n_test=n_test, scoring=replace(smoke.scoring, correctness="strict"))


PRESETS["geo-smoke"] = _geo(PRESETS["smoke"], "geo-smoke", pool=300, n_van=40, n_idk=20, n_test=100)
# The CI gate's geo leg (`make bench-geo`, OEQA): 1:1 vanilla:idk and 3 epochs, so that what a method
# teaches about refusing moves the test numbers by more than their intervals; 5 samples (an odd count:
# no mu of 0.5 between the thresholds); a pool of 300 holds ~80 vanilla candidates for 30 drawn
# (`harness plan`); the whole test split (198 cities).
_GEO_CI = _geo(PRESETS["smoke"], "geo-ci", pool=300, n_van=30, n_idk=30, n_test=200)
PRESETS["geo-ci"] = replace(_GEO_CI, open=replace(_GEO_CI.open, n_samples=5, sft=replace(_CPU_SFT, epochs=3)))


# The geo study (`make study-geo`, leaderboards/geo/): OEQA on the whole geo_city training split (494
# cities; MCQA is left out: the pilot finds ~1% of geo_city_mc known, so every method's vanilla set
# would be a shortfall), 2:1 vanilla:idk at 30/15, 3 samples, 2 epochs (3 epochs at 1:1 taught the
# geo-ci leg to refuse ~85% of the test), every test city and country. Sized by the tightest rule:
# Idk-SFT/DPO keep a question only if every sample is right; at 5 samples that was 37 of 494 (a
# first run at 40/20 fell 3 short), at 3 samples ~70 (estimated from those 5-sample answers), so
# N_van = 30; CRaFT's falling-flow idk candidates come from the ~108 questions at mu = 1/3 (about
# half fall), so N_idk = 15 (`make study-geo-plan`).
_GEO_STUDY = _geo(PRESETS["smoke"], "geo-study", pool=494, n_van=30, n_idk=15, n_test=250)
PRESETS["geo-study"] = replace(_GEO_STUDY, open=replace(_GEO_STUDY.open, n_samples=3), domains=("open",))




def preset(name: str) -> Preset:
    """A preset by name, or a YAML file of overrides on one (see load_preset)."""
    if name.endswith((".yaml", ".yml")):
        return load_preset(name)
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}, or a .yaml file")
    return PRESETS[name]


def load_preset(path: str) -> Preset:
    """Overrides on a named preset, from YAML (safe loader: plain data, never objects or code):

        base: smoke            # the preset to start from
        n_test: 200
        open: {pool_size: 400, n_van: 160, n_idk: 40, sft: {epochs: 3}}
        choice: {n_shot: 1}

    Unknown keys, wrong types and out-of-range values are errors that name the file and the key."""
    import yaml
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"preset file {path} does not exist") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"{path}: malformed YAML{where}: {getattr(err, 'problem', None) or err}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of preset fields, got {type(raw).__name__}")
    raw = dict(raw)
    base = preset(str(raw.pop("base", "smoke")))
    try:
        return _override(replace(base, name=str(raw.pop("name", Path(path).stem))), raw, "")
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from None


def _override(obj, values: dict, prefix: str):
    if not isinstance(values, dict):
        raise ValueError(f"{prefix.rstrip('.') or 'preset'} must be a mapping, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(obj)}
    changes = {}
    for key, value in values.items():
        if key not in fields or key == "kind":
            valid = ", ".join(k for k in fields if k != "kind")
            raise ValueError(f"unknown key {prefix + str(key)!r}; valid: {valid}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            changes[key] = _override(current, value, f"{prefix}{key}.")
        else:
            changes[key] = _typed(prefix + key, current, value)
    return replace(obj, **changes)


def _typed(key: str, current, value):
    """The YAML value, checked against the type of the value it replaces."""
    if isinstance(current, tuple) and isinstance(value, list):
        return tuple(value)
    ok = (current is None or value is None or type(value) is type(current)
          or (isinstance(current, float) and type(value) is int))
    if not ok:
        raise ValueError(f"{key} must be {type(current).__name__}, got {value!r}")
    return float(value) if isinstance(current, float) and value is not None else value
