"""harness bench | plan | construct | train | leaderboard publish | regress | ls"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _seeds(value: str | None) -> tuple[int, ...]:
    if value is None:
        return ()
    try:
        seeds = tuple(int(v) for v in _csv(value))
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated non-negative integers, e.g. 0,1,2; got {value!r}") from None
    if not seeds:
        raise ValueError("--seeds is empty; give e.g. 0,1,2, or leave it out for the data seed alone")
    return seeds


def _run_config(args):
    """The RunConfig and method list of `bench` and `plan` arguments."""
    from harness.config import RunConfig, preset
    from harness.models import DEFAULT_MODEL
    methods = _csv(args.methods)      # "all" is expanded by harness.bench.checked
    cfg = RunConfig(model=args.model or DEFAULT_MODEL, preset=preset(args.preset), seed=args.seed,
                    limit=args.limit, engine=args.engine, dtype=args.dtype, batch_size=args.batch_size,
                    data_dir=args.data_dir, trust_remote_code=args.trust_remote_code,
                    cache=not args.no_cache, train_launcher=args.train_launcher,
                    train_seeds=_seeds(args.seeds), prompt_style=args.prompt_style, model_name=args.model_name)
    if args.limit is not None and args.limit <= 0:
        raise ValueError(f"--limit must be positive, got {args.limit}")
    return cfg, methods


def _plan(args) -> None:
    from harness.io import write_json
    from harness.plan import lines, plan
    if args.sample < 2:
        raise ValueError(f"--sample must be at least 2, got {args.sample}")
    cfg, methods = _run_config(args)
    result = plan(cfg, methods, _csv(args.tasks), sample=args.sample)
    print("\n".join(lines(result)))
    if args.json:
        write_json(args.json, result)


def _bench(args) -> None:
    from harness.bench import bench
    cfg, methods = _run_config(args)
    if args.dry_run:
        from harness.bench import dry_run
        print("\n".join(dry_run(cfg, methods, _csv(args.tasks), Path(args.out))))
        return
    bench(cfg, methods, _csv(args.tasks), Path(args.out), overwrite=args.overwrite)


def _construct(args) -> None:
    """A method's own selection rule on the user's knowledge table."""
    from harness import construct
    from harness.io import write_json
    from harness.methods import selectors
    rules = selectors()
    if args.method not in rules:
        raise ValueError(f"method {args.method!r} has no selection rule; valid: {', '.join(rules)}")
    m = rules[args.method]
    th = construct.from_tau(args.tau) if args.tau is not None else construct.OEQA_THRESHOLDS
    params = construct.Params(th, args.n_van, args.n_idk, args.keep_zero_flow, args.with_replacement)
    sel = construct.apply(m.select, m.TABLE, construct.read_table(args.knowledge), params, seed=args.seed)
    construct.write_selection(sel, args.out)
    manifest = {"method": args.method, "version": m.VERSION, "seed": args.seed, "thresholds": vars(th),
                **sel.to_manifest()}
    write_json(f"{args.out}.manifest.json", manifest)
    print(f"wrote {len(sel.rows)} rows to {args.out}")
    print(json.dumps(manifest))


def _train(args) -> None:
    """SFT on a JSONL of {prompt, target} rows; the process group is whatever launched it
    (single process by default; `torchrun` / `accelerate launch` for several GPUs)."""
    from harness.config import SFTConfig, preset
    from harness.io import read_json, read_jsonl
    from harness.models import resolve
    from harness.sft import train
    if args.sft_config:
        cfg = SFTConfig(**{k: tuple(v) if isinstance(v, list) else v
                           for k, v in read_json(args.sft_config).items()})
    else:
        domain = preset(args.preset).open if args.domain == "open" else preset(args.preset).choice
        cfg = domain.rehearsal_sft if args.rehearsal else domain.sft
    common = dict(seed=args.seed, bf16=args.dtype == "bfloat16", trust_remote_code=args.trust_remote_code,
                  prompt_style=args.prompt_style)
    if args.dpo_beta is not None:
        from harness.dpo import Preference, train as train_dpo
        start = {k: v for k, v in (("adapter", args.start_adapter), ("model", args.start_model)) if v}
        report = train_dpo(resolve(args.model), read_jsonl(args.data), cfg, Preference(args.dpo_beta, args.dpo_sft_weight),
                           Path(args.out), start=start, **common)
    else:
        report = train(resolve(args.model), read_jsonl(args.data), cfg, Path(args.out), **common)
    print(json.dumps(report))


def _publish(args) -> None:
    from harness.publish import publish
    if args.resamples < 1:
        raise ValueError(f"--resamples must be positive, got {args.resamples}")
    rows = publish(args.run_dirs, Path(args.out), n_resamples=args.resamples, seed=args.seed,
                   references=tuple(_csv(args.compare)))
    tasks = sorted({r["task"] for r in rows})
    side_file = Path(args.out) / "side_effects.json"
    side = json.loads(side_file.read_text()) if side_file.exists() else []
    side_text = (f" and {len(side)} side-effect rows ({', '.join(sorted({r['task'] for r in side}))}: "
                 "side_effects.md, .csv, .json)") if side else ""
    print(f"published {len(rows)} rows ({', '.join(tasks)}){side_text} to {args.out}: "
          "leaderboard.md, leaderboard.csv, leaderboard.json, comparisons.csv, comparisons.json, index.html, plots/")


def _analyse(args) -> None:
    from harness.analysis import analyse
    page = analyse(Path(args.run_dir), Path(args.published), Path(args.out or args.published))
    print(f"wrote {page}, analysis.md, analysis.json and plots/")


def _regress(args) -> int:
    from harness import regress
    from harness.io import read_json, write_json
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


def _model_add(args) -> None:
    from harness.models import add_model
    path = add_model(args.name, gguf=args.gguf, source=args.source)
    print(f"model {args.name}: {path}; use it as --model {args.name} (harness ls lists it)")


def _ls(args) -> None:
    from harness.config import PRESETS
    from harness.engines.registry import ENGINES
    from harness.evaluate import tasks
    from harness.models import MODELS
    from harness.methods import METHODS
    from harness.tasks import ALL, GROUPS, expand
    print("methods:");  [print(f"  {k:19} {m.DESCRIPTION}"
                               + "".join(f" [not on {kind}: {why}]" for kind, why in getattr(m, "UNSUPPORTED", {}).items()))
                         for k, m in METHODS.items()]
    print("tasks:");    [print(f"  {k:14} {t.description}") for k, t in tasks().items()]
    print("task groups (--tasks):")
    [print(f"  {g:14} {','.join(expand([g]))}: {why}") for g, why in {**GROUPS, ALL: "every task"}.items()]
    print("presets:");  [print(f"  {k:14} {_pools(p)}, test {p.n_test or 'all'}") for k, p in PRESETS.items()]
    print("models:");   [print(f"  {k:14} {a.hub_id} (offline: {a.package})") for k, a in MODELS.items()]
    from harness.models import local_models
    [print(f"  {k:14} {path} (harness model add)") for k, path in local_models().items()]
    print("  (or any hub id owner/name, or a local model directory)")
    print("engines:");  [print(f"  {k:14} {v.description}") for k, v in ENGINES.items()]


def _pools(p) -> str:
    """`pool 150/150` (OEQA/MCQA), or `pool 2400 (OEQA only)` for a preset sized for one domain."""
    sizes = {kind: getattr(p, kind).pool_size or "all" for kind in ("open", "choice")}
    if len(p.domains) == 2:
        return f"pool {sizes['open']}/{sizes['choice']}"
    kind = p.domains[0]
    return f"pool {sizes[kind]} ({'OEQA' if kind == 'open' else 'MCQA'} only)"


class _Help(argparse.RawDescriptionHelpFormatter):
    """Each option's default after its help, unless the help already says it or there is none (None, a
    flag's False); examples kept as written."""

    def _get_help_string(self, action) -> str:
        text = action.help or ""
        if "(default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


BENCH_EXAMPLES = """examples:
  harness bench                                          # craft and rait on triviaqa, mmlu: what `make bench` runs
  harness bench --methods all --tasks triviaqa,nq --preset study --seeds 0,1,2
  harness bench --methods init-basic,rait,craft --tasks side-effects --preset smoke   # selfaware,xstest,gsm8k
  harness bench --methods craft,rait --preset paper --model meta-llama/Meta-Llama-3-8B-Instruct --engine vllm --dry-run
  harness bench --engine fake --methods init-refuse      # scripted answers, no model: the plumbing in seconds
init-basic (THS's reference) is always run as well; `harness ls` lists methods, tasks, presets, models."""


def _run_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments `bench` and `plan` share."""
    from harness.config import PRESETS
    from harness.engines.registry import ENGINES
    from harness.models import DEFAULT_MODEL
    from harness.prompts import PROMPT_STYLES
    p.add_argument("--methods", default="craft,rait", help="comma list of methods (harness ls), or 'all'")
    p.add_argument("--tasks", default="triviaqa,mmlu",
                   help="comma list of tasks or groups: core (triviaqa,nq,mmlu,arc_c), side-effects "
                        "(selfaware,xstest,gsm8k), all (harness ls)")
    p.add_argument("--model", default=None,
                   help=f"alias, hub id or local directory (default: {DEFAULT_MODEL}, SmolLM2-135M-Instruct)")
    p.add_argument("--model-name", default=None, help="the model's label on leaderboards (default: --model)")
    p.add_argument("--prompt-style", default="auto", choices=PROMPT_STYLES,
                   help="chat: the model's chat template; completion: 'Question: ...\\nAnswer:' for base models; "
                        "auto: chat where the model has a template, else completion (with a warning)")
    p.add_argument("--preset", default="smoke", help=f"{', '.join(PRESETS)}, or a YAML file of overrides")
    p.add_argument("--data-dir", default=None, help="offline data (default: $HARNESS_DATA_DIR, else the hub)")
    p.add_argument("--out", default="results", help="output directory: runs/, cache/, leaderboard.*")
    p.add_argument("--limit", type=int, default=None, help="test questions per task (default: the preset's)")
    p.add_argument("--seed", type=int, default=0,
                   help="data seed: pool sample, knowledge samples, test questions, draws, rehearsal")
    p.add_argument("--seeds", default=None,
                   help="training seeds of the trained methods, e.g. 0,1,2: each trains on the same "
                        "constructed set and is evaluated on the same questions (default: the data seed)")
    p.add_argument("--engine", default="hf",
                   help=f"{', '.join(ENGINES)}: transformers, vLLM (GPU), or scripted answers without a model")
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32", "float16"],
                   help="inference dtype: bfloat16 (the default; also bf16 autocast in SFT), float32 (no "
                        "autocast), float16 (inference only: SFT then trains in float32)")
    p.add_argument("--batch-size", type=int, default=32, help="sequences per forward pass")
    p.add_argument("--trust-remote-code", action="store_true", help="run model code from the hub (off by default)")
    p.add_argument("--train-launcher", default=None,
                   help="run SFT as a subprocess under this launcher, e.g. 'torchrun --nproc_per_node 8' "
                        "or 'accelerate launch --num_processes 8' (default: in process)")
    p.add_argument("--no-cache", action="store_true",
                   help="do not read or write OUT/cache (generations and trained models)")


def parser() -> argparse.ArgumentParser:
    from harness import __version__
    p = argparse.ArgumentParser(prog="harness", description="Refusal-aware instruction tuning benchmark")
    p.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench", help="run methods on tasks and write a leaderboard", formatter_class=_Help,
                       description="Run every stage of the asked methods on the asked tasks (each stage resumes), "
                                   "then write OUT/leaderboard.{json,csv,md} and print the table.",
                       epilog=BENCH_EXAMPLES)
    _run_arguments(b)
    b.add_argument("--overwrite", action="store_true",
                   help="replace OUT/leaderboard.json even if it belongs to another config's run")
    b.add_argument("--dry-run", action="store_true",
                   help="print the stages (done or to run), queries, SFT rows and steps, and test "
                        "questions, without loading a model")
    b.set_defaults(func=_bench)
    pl = sub.add_parser("plan", help="query a pilot sample with M0 and predict the bench: candidate sets, "
                                     "shortfalls, degenerate comparisons, wall time", formatter_class=_Help,
                        description="Query a seeded pilot sample of each domain's pool with M0 (correctness and "
                                    "certainty as the bench computes them), then predict every method's candidate "
                                    "sets and shortfalls with 95% Wilson intervals, warn where comparisons would be "
                                    "degenerate (fewer than twice the draws), and estimate the bench's wall time "
                                    "from the pilot's measured rates on this machine.",
                        epilog="example:\n  harness plan --methods all --tasks geo_city --preset geo-study --sample 150")
    _run_arguments(pl)
    pl.add_argument("--sample", type=int, default=64, help="pilot questions per domain (seeded)")
    pl.add_argument("--json", default=None, help="also write the plan as JSON to this file")
    pl.set_defaults(func=_plan)
    c = sub.add_parser("construct", help="build a RAIT dataset from your own knowledge table")
    c.add_argument("--method", required=True,
                   help="a method with a selection rule (`harness ls`: rait, corcer-rait, craft-wo-cer, craft, ...)")
    c.add_argument("--knowledge", required=True,
                   help="JSONL: id, correctness, certainty (and correctness_rehearsal for the flow methods)")
    c.add_argument("--n-van", type=int, required=True)
    c.add_argument("--n-idk", type=int, required=True)
    c.add_argument("--tau", type=float, default=None,
                   help="vanilla: mu >= tau, idk: mu < tau (default: OEQA code's 0.51 / 0.49)")
    c.add_argument("--keep-zero-flow", action="store_true", help="keep flow == 0 in D_idk (MCQA code)")
    c.add_argument("--with-replacement", action="store_true",
                   help="draw with replacement, padding short ranked picks (MCQA code)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", required=True)
    c.set_defaults(func=_construct)
    lb = sub.add_parser("leaderboard", help="publish leaderboards from run directories")
    lb_sub = lb.add_subparsers(dest="action", required=True)
    pub = lb_sub.add_parser("publish", help="tables with bootstrap CIs, plots and an HTML page")
    pub.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (OUT/runs/<hash>)")
    pub.add_argument("--out", required=True, help="output directory")
    pub.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    pub.add_argument("--compare", default="rait,craft",
                     help="reference methods of the paired differences beside each table ('' for none)")
    pub.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    pub.set_defaults(func=_publish)
    an = lb_sub.add_parser("analyse", help="what a run's numbers rest on: the pool's knowledge, the flow, each "
                                           "method's selection, CRSS, over-refusal (plots and one page)")
    an.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (OUT/runs/<hash>)")
    an.add_argument("--published", required=True, help="the directory `leaderboard publish` wrote for this run")
    an.add_argument("--out", default=None, help="output directory (default: --published)")
    an.set_defaults(func=_analyse)
    r = sub.add_parser("regress", help="compare a leaderboard with a baseline; exit 1 on a regression")
    r.add_argument("--baseline", required=True, help="baseline JSON (e.g. ci/baseline.json)")
    r.add_argument("--results", required=True, nargs="+",
                   help="leaderboard.json of the run to check, and its training_sets.json (several: their rows "
                        "together, e.g. CI's two legs)")
    r.add_argument("--update", action="store_true",
                   help="rewrite the baseline from the results (keeps its tolerances), exit 0")
    r.add_argument("--variation", nargs="+", default=None,
                   help="with --update: results of runs that should agree with --results (other training seeds, "
                        "other kernels); each metric's largest distance becomes its <metric>_spread tolerance")
    r.set_defaults(func=_regress)
    t = sub.add_parser("train", help="SFT on prompt/target rows (launch with torchrun/accelerate for multi-GPU)")
    t.add_argument("--model", required=True, help="alias, hub id or local directory")
    t.add_argument("--data", required=True, help="JSONL with 'prompt' and 'target' per line")
    t.add_argument("--out", required=True, help="directory for model/ and train.json")
    t.add_argument("--preset", default="smoke", help="SFT settings of this preset ...")
    t.add_argument("--domain", default="open", choices=["open", "choice"], help="... for this domain")
    t.add_argument("--rehearsal", action="store_true", help="the preset's rehearsal SFT settings")
    t.add_argument("--sft-config", default=None, help="JSON of SFTConfig fields (overrides --preset)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"],
                   help="bfloat16: mixed-precision autocast; float32: off")
    t.add_argument("--trust-remote-code", action="store_true")
    t.add_argument("--prompt-style", default="auto", choices=["auto", "chat", "completion"],
                   help="how prompts are rendered (as bench --prompt-style)")
    t.add_argument("--dpo-beta", type=float, default=None,
                   help="preference training (TRL DPO) on rows that also hold 'rejected', with this beta")
    t.add_argument("--dpo-sft-weight", type=float, default=0.01, help="weight of the chosen answer's NLL beside DPO")
    t.add_argument("--start-adapter", default=None, help="DPO starts from the model with this LoRA adapter merged")
    t.add_argument("--start-model", default=None, help="DPO starts from this full model directory")
    t.set_defaults(func=_train)
    sub.add_parser("ls", help="list methods, tasks, presets, models").set_defaults(func=_ls)
    mo = sub.add_parser("model", help="bring your own model: a local alias for --model")
    mo_sub = mo.add_subparsers(dest="model_command", required=True)
    add = mo_sub.add_parser("add", help="make NAME usable as --model NAME", formatter_class=_Help,
                            description="A GGUF is dequantized once into a transformers directory under "
                                        "$HARNESS_CACHE/local-models/NAME (as the default model is made); a "
                                        "directory with config.json and a tokenizer is pointed to as it is.",
                            epilog="examples:\n  harness model add gemma-270m --gguf ~/models/gemma-3-270m.Q8_0.gguf\n"
                                   "  harness model add my-7b --from /data/checkpoints/my-7b\n"
                                   "  harness bench --model gemma-270m --prompt-style completion")
    add.add_argument("name", help="the alias: letters, digits, '.', '_', '-'")
    add.add_argument("--gguf", default=None, help="a .gguf file")
    add.add_argument("--from", dest="source", default=None, help="a model directory (config.json, tokenizer)")
    add.set_defaults(func=_model_add)
    return p


def quiet_libraries() -> None:
    """Our rich progress bars say what runs; the libraries' own bars and notices only add noise."""
    import logging
    import os
    import warnings
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*pin_memory.*")
    for name in ("lm-eval", "lm_eval", "sentence_transformers", "datasets"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    from harness.run import BusyError
    args = parser().parse_args(argv)
    quiet_libraries()
    try:
        _check_paths(args)
        rc = args.func(args)               # a handler returns an exit code only when it has one
    except (ValueError, FileNotFoundError, BusyError) as err:
        print(f"harness: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        where = f" in {args.out}/runs/" if getattr(args, "out", None) and args.command == "bench" else ""
        print(f"\nharness: interrupted. Every stage that finished is kept{where} (each wrote DONE last); the "
              "stage that was running left no DONE and starts again. Run the same command to resume.",
              file=sys.stderr)
        return 130
    return rc or 0


# Input files each command reads, by argument; checked before any work so the error names the option.
_INPUTS = ("knowledge", "data")


def _check_paths(args) -> None:
    """--out must be a directory that can be created; a command's input files must exist."""
    for name in _INPUTS:
        path = getattr(args, name, None)
        if isinstance(path, str) and not Path(path).is_file():
            raise ValueError(f"--{name.replace('_', '-')} {path}: no such file")
    out = getattr(args, "out", None)
    if isinstance(out, str) and args.command in ("bench", "construct", "train"):
        folder = Path(out).parent if args.command == "construct" else Path(out)     # construct writes a file
        missing = [p for p in (folder, *folder.parents) if not p.exists()]
        try:
            if missing:                  # can it be made? (made and removed: a refused run leaves nothing)
                try:
                    missing[-1].mkdir()
                except FileExistsError:      # another process (a torchrun rank) made it meanwhile
                    pass
                else:
                    try:
                        missing[-1].rmdir()
                    except OSError:          # another process already put something in it
                        pass
            elif not folder.is_dir():
                raise NotADirectoryError(20, "Not a directory")
        except OSError as err:
            raise ValueError(f"--out {out}: cannot create {folder} ({err.strerror}); give a writable path") from None


if __name__ == "__main__":
    sys.exit(main())
