"""Training stages: SFT of a method's rows, DPO from its SFT model, the same under another training
seed; and the engine arguments of what a training stage wrote."""
from __future__ import annotations

import dataclasses

from harness.run import layout
from harness.run.io import read_json, read_jsonl, write_json, write_jsonl
from harness.run.stage import Stage, StageContext, console
from harness.training import store

TRAIN = 1      # code version


def train(ctx: StageContext, kind: str, rows: list[dict], rehearsal: bool = False, preference=None,
          start: dict | None = None) -> None:
    """SFT on the rows, or with `preference` (training.dpo.Preference) DPO from `start` (engine
    arguments of the model to improve) on rows that also hold `rejected`."""
    d = ctx.cfg.domain(kind)
    sft = d.rehearsal_sft if rehearsal else d.sft
    # One GPU holds either the query engine or the model in training, never both.
    ctx.engines.close()
    write_jsonl(ctx.dir / layout.SFT_DATA, rows)
    bf16 = ctx.cfg.dtype == "bfloat16"
    # The rehearsal belongs to the data (it decides the knowledge flow): always the data seed.
    seed = ctx.cfg.seed if rehearsal or ctx.train_seed is None else ctx.train_seed
    extra = None if preference is None else {"dpo": dataclasses.asdict(preference),
                                             "start": {k: store.model_id(v) for k, v in (start or {}).items()}}
    entry = store.key(ctx.base_model, sft, rows, seed, bf16, ctx.cfg.prompt_style, extra)
    if ctx.cache_dir and store.restore(ctx.cache_dir, entry, ctx.dir):
        return                               # the same dataset was trained before in this --out
    if ctx.cfg.train_launcher:
        launch_training(ctx, sft, seed, preference, start)
    elif preference is not None:
        from harness.training.dpo import train as train_dpo
        train_dpo(ctx.base_model, rows, sft, preference, ctx.dir, start=start, seed=seed, bf16=bf16,
                  trust_remote_code=ctx.cfg.trust_remote_code, prompt_style=ctx.cfg.prompt_style)
    else:
        from harness.training.sft import train as train_sft
        train_sft(ctx.base_model, rows, sft, ctx.dir, seed=seed, bf16=bf16,
                  trust_remote_code=ctx.cfg.trust_remote_code, prompt_style=ctx.cfg.prompt_style)
    if ctx.cache_dir:
        store.store(ctx.cache_dir, entry, ctx.dir)


def launch_training(ctx: StageContext, sft, seed: int, preference=None, start: dict | None = None) -> None:
    """`harness train` on the stage's rows under the user's launcher (torchrun, accelerate launch):
    one process per GPU, data-parallel, the same global batch as in process."""
    import shlex
    import subprocess
    import sys
    write_json(ctx.dir / layout.SFT_CONFIG, dataclasses.asdict(sft))
    cmd = [*shlex.split(ctx.cfg.train_launcher), "-m", "harness.cli", "train", "--model", ctx.base_model,
           "--data", str(ctx.dir / layout.SFT_DATA), "--out", str(ctx.dir),
           "--sft-config", str(ctx.dir / layout.SFT_CONFIG), "--seed", str(seed),
           "--dtype", "bfloat16" if ctx.cfg.dtype == "bfloat16" else "float32",
           "--prompt-style", ctx.cfg.prompt_style]
    if ctx.cfg.trust_remote_code:
        cmd.append("--trust-remote-code")
    if preference is not None:
        cmd += ["--dpo-beta", str(preference.beta), "--dpo-sft-weight", str(preference.sft_weight)]
        cmd += [f"--start-{k}={v}" for k, v in (start or {}).items()]
    if cmd[0] == "python":
        cmd[0] = sys.executable
    done = subprocess.run(cmd)
    if done.returncode != 0 or not (ctx.dir / layout.TRAIN).exists():
        raise RuntimeError(f"training under {ctx.cfg.train_launcher!r} failed (exit {done.returncode}); "
                           f"command: {shlex.join(cmd)}")


def train_stage(method: str, kind: str, sft_first: bool = False) -> Stage:
    """SFT on the method's constructed rows. `sft_first`: the SFT before a preference stage, on the
    rows' chosen answers (`<kind>/<method>/sft`; the same rows as another method's SFT train once,
    through the trained-model store)."""
    def run(ctx: StageContext) -> None:
        rows = read_jsonl(ctx.input(layout.build(kind, method)) / layout.SFT_DATA)
        if sft_first:
            rows = [{k: v for k, v in r.items() if k != "rejected"} for r in rows]
        if rows:
            train(ctx, kind, rows)
        else:
            # SFT on nothing leaves M0 as it is; the build manifest records the shortfall.
            console.print(f"[red]warning: {method} ({kind}): the constructed training set is empty, so nothing is "
                          f"trained: it is scored as the untuned model and flagged UNTRAINED[/red]")
            write_json(ctx.dir / layout.TRAIN, {"mode": "none", "examples": 0,
                                                "reason": "the constructed dataset is empty"})
    return Stage(layout.sft(kind, method) if sft_first else layout.train(kind, method), run, TRAIN,
                 (layout.build(kind, method),), trains=True)


def preference_stage(method: str, kind: str, preference) -> Stage:
    """DPO (training.dpo) on the method's preference rows, from the model its SFT stage trained on the
    chosen answers (train_stage(sft_first=True)); an empty set leaves that model, flagged."""
    def run(ctx: StageContext) -> None:
        rows = read_jsonl(ctx.input(layout.build(kind, method)) / layout.SFT_DATA)
        start = tuned_model(ctx, layout.sft(kind, method))
        if rows:
            train(ctx, kind, rows, preference=preference, start=start)
        else:
            console.print(f"[red]warning: {method} ({kind}): no preference pairs, so nothing is trained: it is scored "
                          f"as the model it starts from and flagged UNTRAINED[/red]")
            write_json(ctx.dir / layout.TRAIN, {"mode": "none", "examples": 0, "start": start,
                                                "reason": "the constructed preference set is empty"})
    return Stage(layout.train(kind, method), run, TRAIN, (layout.build(kind, method), layout.sft(kind, method)),
                 trains=True)


def for_seed(stage: Stage, seed: int | None) -> Stage:
    """A training stage under training seed `seed`, in its own folder (`train@seed<s>`); the stage
    as it is for None (the data seed)."""
    if seed is None:
        return stage

    def run(ctx: StageContext) -> None:
        stage.run(dataclasses.replace(ctx, train_seed=seed))    # shares ctx.inputs: DONE records them
    return Stage(layout.seeded(stage.name, seed), run, stage.version, stage.inputs, stage.trains)


def tuned_model(ctx: StageContext, train_stage_name: str) -> dict:
    """Engine arguments for a trained stage: a LoRA adapter on the base, or a full model directory."""
    info = read_json(ctx.input(train_stage_name) / layout.TRAIN)
    path = str(ctx.input(train_stage_name) / layout.MODEL)
    # untrained: the model it started from (a preference stage's start; the base for SFT)
    return {"none": info.get("start", {}), "lora": {"adapter": path}, "full": {"model": path}}[info["mode"]]
