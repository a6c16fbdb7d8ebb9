"""What each `harness` command does with its parsed arguments (harness.cli builds the parser)."""
from __future__ import annotations

import json
from pathlib import Path


def csv_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _seeds(value: str | None) -> tuple[int, ...]:
    if value is None:
        return ()
    try:
        seeds = tuple(int(v) for v in csv_list(value))
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated non-negative integers, e.g. 0,1,2; got {value!r}") from None
    if not seeds:
        raise ValueError("--seeds is empty; give e.g. 0,1,2, or leave it out for the data seed alone")
    return seeds


def _run_config(args):
    """The RunConfig and method list of `bench` and `plan` arguments."""
    from harness.run.config import RunConfig
    from harness.run.presets import preset
    from harness.engines.models import DEFAULT_MODEL
    from harness.engines.dtypes import resolve_dtype
    methods = csv_list(args.methods)      # "all" is expanded by harness.schedule.checked
    dtype = resolve_dtype(args.dtype, "cuda" if _on_slurm(args) else None)
    if args.dtype == "auto" and dtype == "float32":
        from harness.run.stage import console
        console.print("note: this CPU has no native bfloat16 (emulated, it ran the tiny bench 11x slower "
                      "than float32): --dtype auto runs in float32; --dtype bfloat16 forces it")
    cfg = RunConfig(model=args.model or DEFAULT_MODEL, preset=preset(args.preset), seed=args.seed,
                    limit=args.limit, engine=args.engine, dtype=dtype, batch_size=args.batch_size,
                    data_dir=args.data_dir, trust_remote_code=args.trust_remote_code,
                    cache=not args.no_cache, train_launcher=args.train_launcher,
                    train_seeds=_seeds(args.seeds), prompt_style=args.prompt_style, model_name=args.model_name)
    if args.limit is not None and args.limit <= 0:
        raise ValueError(f"--limit must be positive, got {args.limit}")
    return cfg, methods


def _on_slurm(args) -> bool:
    """Whether the stages run as Slurm jobs (on the cluster's GPUs, not on the host that submits them)."""
    import shutil
    if vars(args).get("executor", "local") != "submitit":        # plan has no executor flags
        return False
    return args.cluster == "slurm" or (args.cluster is None and shutil.which("sbatch") is not None)


def run_plan(args) -> None:
    from harness.run.io import write_json
    from harness.plan import lines, plan
    if args.sample < 2:
        raise ValueError(f"--sample must be at least 2, got {args.sample}")
    cfg, methods = _run_config(args)
    result = plan(cfg, methods, csv_list(args.tasks), sample=args.sample, workers=args.workers)
    print("\n".join(lines(result)))
    if args.json:
        write_json(args.json, result)


def run_bench(args) -> None:
    from harness.bench import bench
    cfg, methods = _run_config(args)
    if args.dry_run:
        from harness.dryrun import dry_run
        print("\n".join(dry_run(cfg, methods, csv_list(args.tasks), Path(args.out), workers=args.workers)))
        return
    bench(cfg, methods, csv_list(args.tasks), Path(args.out), overwrite=args.overwrite, executor=_executor(args))


def _executor(args):
    """The bench's executor from its flags; --slurm KEY=VALUE values as numbers where they are."""
    from harness.executors import Executor
    params = {}
    for item in args.slurm:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--slurm {item!r}: expected KEY=VALUE, e.g. slurm_partition=gpu")
        params[key] = int(value) if value.isdigit() else value
    devices = tuple(csv_list(args.devices)) if args.devices is not None else None
    return Executor(args.executor, args.workers, devices, args.gpus_per_stage, args.data_parallel, args.cluster,
                    tuple(params.items()))


def run_construct(args) -> None:
    """A method's own selection rule on the user's knowledge table."""
    from harness.knowledge import construct
    from harness.run.io import write_json
    from harness.methods import selectors
    rules = selectors()
    if args.method not in rules:
        raise ValueError(f"method {args.method!r} has no selection rule; valid: {', '.join(rules)}")
    m = rules[args.method]
    th = construct.from_tau(args.tau) if args.tau is not None else construct.OEQA_THRESHOLDS
    params = construct.Params(th, args.n_van, args.n_idk, args.keep_zero_flow, args.with_replacement)
    sel = construct.apply(m.select, m.table, construct.read_table(args.knowledge), params, seed=args.seed)
    construct.write_selection(sel, args.out)
    manifest = {"method": args.method, "version": m.version, "seed": args.seed, "thresholds": vars(th),
                **sel.to_manifest()}
    write_json(f"{args.out}.manifest.json", manifest)
    print(f"wrote {len(sel.rows)} rows to {args.out}")
    print(json.dumps(manifest))


def run_train(args) -> None:
    """SFT on a JSONL of {prompt, target} rows; the process group is whatever launched it
    (single process by default; `torchrun` / `accelerate launch` for several GPUs)."""
    from harness.run.config import SFTConfig
    from harness.run.presets import preset
    from harness.run.io import read_json, read_jsonl
    from harness.engines.models import resolve
    from harness.training.sft import train
    if args.sft_config:
        cfg = SFTConfig(**{k: tuple(v) if isinstance(v, list) else v
                           for k, v in read_json(args.sft_config).items()})
    else:
        domain = preset(args.preset).open if args.domain == "open" else preset(args.preset).choice
        cfg = domain.rehearsal_sft if args.rehearsal else domain.sft
    from harness.engines.dtypes import resolve_dtype
    common = dict(seed=args.seed, bf16=resolve_dtype(args.dtype) == "bfloat16", trust_remote_code=args.trust_remote_code,
                  prompt_style=args.prompt_style)
    if args.dpo_beta is not None:
        from harness.training.dpo import Preference, train as train_dpo
        start = {k: v for k, v in (("adapter", args.start_adapter), ("model", args.start_model)) if v}
        report = train_dpo(resolve(args.model), read_jsonl(args.data), cfg, Preference(args.dpo_beta, args.dpo_sft_weight),
                           Path(args.out), start=start, **common)
    else:
        report = train(resolve(args.model), read_jsonl(args.data), cfg, Path(args.out), **common)
    print(json.dumps(report))


def run_publish(args) -> None:
    from harness.reporting.publish import publish
    if args.resamples < 1:
        raise ValueError(f"--resamples must be positive, got {args.resamples}")
    rows = publish(args.run_dirs, Path(args.out), n_resamples=args.resamples, seed=args.seed,
                   references=tuple(csv_list(args.compare)))
    tasks = sorted({r["task"] for r in rows})
    side_file = Path(args.out) / "side_effects.json"
    side = json.loads(side_file.read_text()) if side_file.exists() else []
    side_text = (f" and {len(side)} side-effect rows ({', '.join(sorted({r['task'] for r in side}))}: "
                 "side_effects.md, .csv, .json)") if side else ""
    print(f"published {len(rows)} rows ({', '.join(tasks)}){side_text} to {args.out}: "
          "leaderboard.md, leaderboard.csv, leaderboard.json, comparisons.csv, comparisons.json, index.html, plots/")


def run_analyse(args) -> None:
    from harness.reporting.analysis import analyse
    page = analyse(Path(args.run_dir), Path(args.published), Path(args.out or args.published))
    print(f"wrote {page}, analysis.md, analysis.json and plots/")


def run_regress(args) -> int:
    from harness.reporting import regress
    from harness.run.io import read_json, write_json
    results = []
    for path in args.results:
        rows = read_json(path)
        if not isinstance(rows, list):
            raise ValueError(f"{path}: expected a leaderboard.json (a list of rows)")
        results += rows
    if args.update and not Path(args.baseline).exists():
        baseline = {"tolerance": {}, "rows": []}       # first baseline of a new gate
    else:
        baseline = read_json(args.baseline)
    report = regress.compare(baseline, results)
    regress.print_report(report)
    if args.update:
        variation = [r for path in args.variation or [] for r in read_json(path)]
        write_json(args.baseline, regress.updated(baseline, results, variation if args.variation else None))
        print(f"baseline {args.baseline} rewritten from {', '.join(args.results)} ({len(results)} rows)")
        return 0
    return 1 if report.failed else 0


def run_model_add(args) -> None:
    from harness.engines.models import add_model
    path = add_model(args.name, gguf=args.gguf, source=args.source)
    print(f"model {args.name}: {path}; use it as --model {args.name} (harness ls lists it)")


def run_ls(args) -> None:
    from harness.run.presets import PRESETS
    from harness.engines.registry import ENGINES
    from harness.scoring.evaluate import tasks
    from harness.engines.models import MODELS
    from harness.methods import METHODS
    from harness.tasks import ALL, GROUPS, expand
    print("methods:");  [print(f"  {k:19} {m.description}"
                               + "".join(f" [not on {kind}: {why}]" for kind, why in m.unsupported.items()))
                         for k, m in METHODS.items()]
    print("tasks:");    [print(f"  {k:14} {t.description}") for k, t in tasks().items()]
    print("task groups (--tasks):")
    [print(f"  {g:14} {','.join(expand([g]))}: {why}") for g, why in {**GROUPS, ALL: "every task"}.items()]
    print("presets:");  [print(f"  {k:14} {_pools(p)}, test {p.n_test or 'all'}") for k, p in PRESETS.items()]
    print("models:");   [print(f"  {k:14} {a.hub_id} (offline: {a.package})") for k, a in MODELS.items()]
    from harness.engines.models import local_models
    [print(f"  {k:14} {path} (harness model add)") for k, path in local_models().items()]
    print("  (or any hub id owner/name, or a local model directory)")
    print("engines:");  [print(f"  {k:14} {v.description}") for k, v in ENGINES.items()]


def _pools(p) -> str:
    """`pool 150/150` (OEQA/MCQA), or `pool 2400 (OEQA only)` for a preset sized for one domain."""
    sizes = {"open": p.open.pool_size or "all", "choice": p.choice.pool_size or "all"}
    if len(p.domains) == 2:
        return f"pool {sizes['open']}/{sizes['choice']}"
    kind = p.domains[0]
    return f"pool {sizes[kind]} ({'OEQA' if kind == 'open' else 'MCQA'} only)"
