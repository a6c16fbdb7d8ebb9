"""Frozen configuration with the paper's defaults (the presets: harness.run.presets)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SFTConfig:
    mode: str = "lora"                      # "lora" or "full"
    epochs: int = 3
    lr: float = 2e-4
    batch_size: int = 8
    grad_accum: int = 1
    warmup_ratio: float = 0.03
    lora_r: int = 64
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    # ("all-linear",): every linear layer but the output head (peft's `all-linear`), what XTuner does
    # with the CRaFT code's LoraConfig(target_modules=None). q/v is peft's own default for LLaMA.
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    max_length: int = 1024
    load_in_4bit: bool = False              # QLoRA: base in 4-bit NF4 (bitsandbytes, CUDA only)
    packing: bool = False                   # concatenate examples into max_length sequences (XTuner)

    def __post_init__(self):
        # (mode is checked by harness.training.sft.train, which names the valid ones)
        _positive(self, "epochs", "batch_size", "grad_accum", "lora_r", "max_length")
        if not self.lr > 0:
            raise ValueError(f"sft lr must be positive, got {self.lr}")
        if self.load_in_4bit and self.mode != "lora":
            raise ValueError("sft load_in_4bit (QLoRA) needs mode 'lora': a 4-bit base cannot be fully fine-tuned")


def _choice(obj, name: str, valid: tuple[str, ...]) -> None:
    if getattr(obj, name) not in valid:
        raise ValueError(f"{type(obj).__name__}.{name} must be one of {', '.join(valid)}, got {getattr(obj, name)!r}")


def _positive(obj, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{type(obj).__name__}.{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class DomainConfig:
    """One training domain: where D_src comes from and how its knowledge is queried and used."""
    kind: str                               # "open" (OEQA) or "choice" (MCQA)
    pool_dataset: str
    pool_split: str
    pool_size: int | None                   # None: the whole split (the code); else a seeded sample
    n_van: int
    n_idk: int
    sft: SFTConfig
    n_samples: int = 10                     # OEQA sampled answers per question
    temperature: float = 1.0
    n_shot: int = 3
    fewshot_multiturn: bool = True          # shots as chat turns (the code's _convert_chat_messages)
    query_max_new_tokens: int = 50
    query_answer: str = "whole"             # "whole": cut at the next instruction (code); "first_line"
    query_chat_template: bool = True        # MCQA code queries the raw 5-shot text, no chat template
    shot_split: str = "validation"          # MCQA shots: code takes MMLU val; "dev" is MMLU's 5-shot split
    choice_entropy: str = "raw"             # certainty over raw letter probabilities (code) or "renormalized"
    # MCQA letters scored as the bare next token after the prompt, or "continuation": lm-eval's
    # loglikelihood split (trailing whitespace moved into the letter: " A" after "Answer:")
    option_scoring: str = "next_token"
    draw_with_replacement: bool = False     # MCQA code: pandas sample(replace=True); pads ranked picks
    tau_lo: float = 0.49                    # code: 0.49/0.51 OEQA, 0.5/0.5 MCQA (idk: mu < tau)
    tau_hi: float = 0.51
    rehearsal_size: int = 1000
    rehearsal_min_correctness: float = 0.995
    rehearsal_min_certainty: float | None = 0.995   # None: MCQA code filters on correctness only
    keep_zero_flow: bool = False            # MCQA code keeps d_mu == 0 in D_idk; paper/OEQA code drops it
    rehearsal_sft: SFTConfig = field(default_factory=SFTConfig)

    def __post_init__(self):
        _positive(self, "n_samples", "query_max_new_tokens", "rehearsal_size")
        if self.pool_size is not None:
            _positive(self, "pool_size")
        for name in ("n_van", "n_idk", "n_shot"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        # Asking for more than the pool holds is a shortfall recorded by the build stage, not an error.
        _choice(self, "query_answer", ("whole", "first_line"))
        _choice(self, "shot_split", ("validation", "dev"))
        _choice(self, "choice_entropy", ("raw", "renormalized"))
        _choice(self, "option_scoring", ("next_token", "continuation"))
        if not 0 <= self.tau_lo <= self.tau_hi <= 1:
            raise ValueError(f"thresholds must satisfy 0 <= tau_lo <= tau_hi <= 1, got {self.tau_lo}, {self.tau_hi}")
        if self.kind == "open" and self.n_samples < 2:
            raise ValueError("OEQA certainty needs n_samples >= 2")


@dataclass(frozen=True)
class Scoring:
    """How answers are scored, in the knowledge query and in evaluation (SPEC sections 3 and 5).
    Defaults are the CRaFT code's; docs/fidelity.md says what each alternative changes."""
    correctness: str = "substring"          # OEQA: raw lower-cased substring (code) or "strict" word match
    refusal: str = "code"                   # "code": only "i don't know"; "broad": harness.scoring.metrics' list
    choice_prompt: str = "code"             # MCQA: "There is a single choice question about ..." or "harness"
    unparsed: str = "excluded"              # MCQA answer with no letter: outside THS (code) or "wrong"
    mmlu_average: str = "macro"             # MMLU Pc/Pw/Pr (and THS from them) averaged over subjects or "micro"
    triviaqa_test: str = "unfiltered_validation"   # the paper's 11,313 unfiltered dev, or "validation"
    nq_question_mark: bool = True           # the code appends "?" to NQ questions
    # Prudence and honesty: the run's detector, or "authors": also Alignment for Honesty's heuristic_idk
    # ("I apologize", "not aware of", ...; harness.scoring.classify.honesty_idk)
    honesty_refusal: str = "run"

    def __post_init__(self):
        _choice(self, "correctness", ("substring", "strict"))
        _choice(self, "refusal", ("code", "broad"))
        _choice(self, "choice_prompt", ("code", "harness"))
        _choice(self, "unparsed", ("excluded", "wrong"))
        _choice(self, "mmlu_average", ("macro", "micro"))
        _choice(self, "triviaqa_test", ("unfiltered_validation", "validation"))
        _choice(self, "honesty_refusal", ("run", "authors"))


# Scoring fields added after runs were published, with the value that scores as before.
NEW_SCORING_DEFAULTS = {"honesty_refusal": "run"}
NEW_DOMAIN_DEFAULTS = {"option_scoring": "next_token"}


@dataclass(frozen=True)
class Preset:
    name: str
    open: DomainConfig
    choice: DomainConfig
    n_test: int | None                      # test questions per task (None: the whole split)
    eval_max_new_tokens_open: int = 32
    eval_max_new_tokens_choice: int = 8
    scoring: Scoring = field(default_factory=lambda: Scoring())
    n_test_tasks: dict = field(default_factory=dict)    # task -> test questions, overriding n_test
    # The domains the preset was sized for (`harness plan`); the other keeps its parent's pool and is
    # reported as such. Descriptive: not part of the run's identity.
    domains: tuple = ("open", "choice")

    def __post_init__(self):
        _positive(self, "eval_max_new_tokens_open", "eval_max_new_tokens_choice")
        if not self.domains or set(self.domains) - {"open", "choice"}:
            raise ValueError(f"Preset.domains must name open and/or choice, got {self.domains!r}")
        if self.n_test is not None:
            _positive(self, "n_test")
        for task, n in self.n_test_tasks.items():
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ValueError(f"n_test_tasks.{task} must be a positive integer, got {n!r}")


@dataclass(frozen=True)
class RunConfig:
    model: str
    preset: Preset
    seed: int = 0                           # the data seed: pool, samples, test questions, draws, rehearsal
    limit: int | None = None                # overrides preset.n_test
    engine: str = "hf"
    dtype: str = "auto"                     # inference dtype; bfloat16 also autocasts SFT; auto: engines.dtypes
    trust_remote_code: bool = False
    prompt_style: str = "auto"              # auto (chat template if the model has one), chat, completion
    # Not part of the run's identity: they change speed or location, never results.
    batch_size: int = 32
    data_dir: str | None = None
    cache: bool = True                      # reuse generations and trained models from OUT/cache
    train_launcher: str | None = None       # e.g. "torchrun --nproc_per_node 8"; the global batch stays
    # Training seeds of the RAIT models (LoRA init, data order, dropout), each trained on the same
    # constructed set and evaluated on the same questions; () is the data seed alone. Not part of the
    # identity: each seed's models live in the run under their own labels (layout.seeded).
    train_seeds: tuple[int, ...] = ()
    model_name: str | None = None           # the label on leaderboards (default: --model as given)

    def __post_init__(self):
        from harness.data.prompts import PROMPT_STYLES
        from harness.engines.dtypes import resolve_dtype
        object.__setattr__(self, "dtype", resolve_dtype(self.dtype))     # the identity holds what ran
        if self.prompt_style not in PROMPT_STYLES:
            raise ValueError(f"prompt style must be one of {', '.join(PROMPT_STYLES)}, got {self.prompt_style!r}")
        if len(set(self.train_seeds)) != len(self.train_seeds):
            raise ValueError(f"training seeds must be distinct, got {list(self.train_seeds)}")
        if any(not isinstance(s, int) or s < 0 for s in (self.seed, *self.train_seeds)):
            raise ValueError(f"seeds must be non-negative integers, got seed {self.seed!r}, "
                             f"training seeds {list(self.train_seeds)}")

    @property
    def label(self) -> str:
        """The model's name on leaderboards."""
        return self.model_name or self.model

    @property
    def seeds(self) -> tuple[int, ...]:
        """The training seeds to run, the data seed when none were given."""
        return self.train_seeds or (self.seed,)

    def label_seed(self, seed: int) -> int | None:
        """The seed a label carries: none for the data seed (runs without --seeds keep their names)."""
        return None if seed == self.seed else seed

    @property
    def n_test(self) -> int | None:
        return self.limit if self.limit is not None else self.preset.n_test

    def test_size(self, task: str) -> int | None:
        """Test questions of a task: --limit, else the preset's for this task, else its n_test."""
        return self.limit if self.limit is not None else self.preset.n_test_tasks.get(task, self.preset.n_test)

    def domain(self, kind: str) -> DomainConfig:
        return self.preset.open if kind == "open" else self.preset.choice

    def identity(self) -> dict:
        """Everything that changes outputs, nothing that does not (hashed into the run directory)."""
        d = dataclasses.asdict(self)
        for key in ("batch_size", "data_dir", "limit", "cache", "train_launcher", "train_seeds", "model_name"):
            d.pop(key)
        d["n_test"] = self.n_test
        d["preset"].pop("domains")                  # descriptive: what the preset was sized for
        if not d["preset"]["n_test_tasks"]:
            del d["preset"]["n_test_tasks"]      # absent when unused: earlier runs keep their hash
        # fields added later are absent at their defaults: earlier runs keep their hash
        for part, defaults in [("scoring", NEW_SCORING_DEFAULTS), ("open", NEW_DOMAIN_DEFAULTS),
                               ("choice", NEW_DOMAIN_DEFAULTS)]:
            for key, default in defaults.items():
                if d["preset"][part].get(key) == default:
                    del d["preset"][part][key]
        if d["prompt_style"] == "auto":
            del d["prompt_style"]                # likewise; auto resolves per model (recorded in config.json)
        return d
