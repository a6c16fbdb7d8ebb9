"""harness bench | plan | construct | train | leaderboard publish|analyse | regress | ls | model add: the parser
(the commands themselves: harness.commands)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.run.progress import quiet_libraries
from harness.commands import (run_analyse, run_bench, run_construct, run_ls, run_model_add, run_plan, run_publish,
                              run_regress, run_train)


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
    from harness.run.presets import PRESETS
    from harness.engines.registry import ENGINES
    from harness.engines.models import DEFAULT_MODEL
    from harness.data.prompts import PROMPT_STYLES
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
    p.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32", "float16"],
                   help="inference dtype: auto (bfloat16 where the GPU or CPU computes in it, else float16 on "
                        "a GPU, float32 on a CPU), bfloat16 (also bf16 autocast in SFT), float32 (no autocast), "
                        "float16 (inference only: SFT then trains in float32)")
    p.add_argument("--batch-size", type=int, default=32, help="sequences per forward pass")
    p.add_argument("--trust-remote-code", action="store_true", help="run model code from the hub (off by default)")
    p.add_argument("--train-launcher", default=None,
                   help="run SFT as a subprocess under this launcher, e.g. 'torchrun --nproc_per_node 8' "
                        "or 'accelerate launch --num_processes 8' (default: in process)")
    p.add_argument("--no-cache", action="store_true",
                   help="do not read or write OUT/cache (generations and trained models)")


def _executor_arguments(b: argparse.ArgumentParser) -> None:
    """Who runs the stages (harness.executors); none of it changes a result."""
    from harness.executors import EXECUTORS
    g = b.add_argument_group("executors (docs/scale.md)")
    g.add_argument("--executor", default="local", choices=list(EXECUTORS),
                   help="; ".join(f"{k}: {v}" for k, v in EXECUTORS.items()))
    g.add_argument("--workers", type=int, default=1,
                   help="stages run at once (pool, submitit); with --dry-run: the wall time on this many devices")
    g.add_argument("--devices", default=None,
                   help="pool: the GPUs it hands out, e.g. 0,1,2,3 (default: every visible GPU; none on a CPU machine)")
    g.add_argument("--gpus-per-stage", type=int, default=1,
                   help="pool: GPUs a training stage takes (full fine-tuning under --train-launcher torchrun)")
    g.add_argument("--data-parallel", type=int, default=1, metavar="K",
                   help="each knowledge query and evaluation as K stages of a slice of its questions, for K workers "
                        "(joined in order); like --batch-size it changes which prompts share a batch, so a real "
                        "model's numbers can differ (docs/scale.md)")
    g.add_argument("--cluster", default=None, choices=["slurm", "local"],
                   help="submitit: Slurm, or its local executor (default: Slurm where sbatch is on the PATH)")
    g.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                   help="submitit parameter, repeatable: slurm_partition=gpu, timeout_min=240, gpus_per_node=1, "
                        "cpus_per_task=8, mem_gb=64, slurm_account=...")


def parser() -> argparse.ArgumentParser:
    from harness import __version__
    p = argparse.ArgumentParser(prog="harness", description="Refusal-aware instruction tuning benchmark")
    p.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _bench_parsers(sub)
    _construct_parser(sub)
    _report_parsers(sub)
    _train_parser(sub)
    sub.add_parser("ls", help="list methods, tasks, presets, models").set_defaults(func=run_ls)
    _model_parser(sub)
    return p


def _bench_parsers(sub) -> None:
    b = sub.add_parser("bench", help="run methods on tasks and write a leaderboard", formatter_class=_Help,
                       description="Run every stage of the asked methods on the asked tasks (each stage resumes), "
                                   "then write OUT/leaderboard.{json,csv,md} and print the table.",
                       epilog=BENCH_EXAMPLES)
    _run_arguments(b)
    b.add_argument("--overwrite", action="store_true",
                   help="replace OUT/leaderboard.json even if it belongs to another config's run")
    b.add_argument("--dry-run", action="store_true",
                   help="print the stages (done or to run) and what each reads, queries, SFT rows and steps, "
                        "and test questions, without loading a model")
    _executor_arguments(b)
    b.set_defaults(func=run_bench)
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
    pl.add_argument("--workers", type=int, default=1,
                    help="also the wall time on this many devices (bench --executor pool), and the critical path")
    pl.set_defaults(func=run_plan)


def _construct_parser(sub) -> None:
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
    c.set_defaults(func=run_construct)


def _report_parsers(sub) -> None:
    lb = sub.add_parser("leaderboard", help="publish leaderboards from run directories")
    lb_sub = lb.add_subparsers(dest="action", required=True)
    pub = lb_sub.add_parser("publish", help="tables with bootstrap CIs, plots and an HTML page")
    pub.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (OUT/runs/<hash>)")
    pub.add_argument("--out", required=True, help="output directory")
    pub.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    pub.add_argument("--compare", default="rait,craft",
                     help="reference methods of the paired differences beside each table ('' for none)")
    pub.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    pub.set_defaults(func=run_publish)
    an = lb_sub.add_parser("analyse", help="what a run's numbers rest on: the pool's knowledge, the flow, each "
                                           "method's selection, CRSS, over-refusal (plots and one page)")
    an.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (OUT/runs/<hash>)")
    an.add_argument("--published", required=True, help="the directory `leaderboard publish` wrote for this run")
    an.add_argument("--out", default=None, help="output directory (default: --published)")
    an.set_defaults(func=run_analyse)
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
    r.set_defaults(func=run_regress)


def _train_parser(sub) -> None:
    t = sub.add_parser("train", help="SFT on prompt/target rows (launch with torchrun/accelerate for multi-GPU)")
    t.add_argument("--model", required=True, help="alias, hub id or local directory")
    t.add_argument("--data", required=True, help="JSONL with 'prompt' and 'target' per line")
    t.add_argument("--out", required=True, help="directory for model/ and train.json")
    t.add_argument("--preset", default="smoke", help="SFT settings of this preset ...")
    t.add_argument("--domain", default="open", choices=["open", "choice"], help="... for this domain")
    t.add_argument("--rehearsal", action="store_true", help="the preset's rehearsal SFT settings")
    t.add_argument("--sft-config", default=None, help="JSON of SFTConfig fields (overrides --preset)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32"],
                   help="bfloat16: mixed-precision autocast; float32: off; auto: bfloat16 where native")
    t.add_argument("--trust-remote-code", action="store_true")
    t.add_argument("--prompt-style", default="auto", choices=["auto", "chat", "completion"],
                   help="how prompts are rendered (as bench --prompt-style)")
    t.add_argument("--dpo-beta", type=float, default=None,
                   help="preference training (TRL DPO) on rows that also hold 'rejected', with this beta")
    t.add_argument("--dpo-sft-weight", type=float, default=0.01, help="weight of the chosen answer's NLL beside DPO")
    t.add_argument("--start-adapter", default=None, help="DPO starts from the model with this LoRA adapter merged")
    t.add_argument("--start-model", default=None, help="DPO starts from this full model directory")
    t.set_defaults(func=run_train)


def _model_parser(sub) -> None:
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
    add.set_defaults(func=run_model_add)


def main(argv: list[str] | None = None) -> int:
    from harness.run.stage import BusyError
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
