"""Run directory, stage loop, DONE markers, resume."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from rich.console import Console

from harness import __version__

from harness.run import layout
from harness.run.config import RunConfig
from harness.run.faults import failpoint
from harness.run.fingerprint import digest
from harness.run.io import write_json, write_text
from harness.run.paths import data_dir

console = Console(stderr=True)


@dataclass(frozen=True)
class Stage:
    """A unit of work. Its name is its identity: two methods naming the same stage share one run of
    it. Its version is its code's: DONE records it, and a changed version reruns the stage. Its
    inputs are the stages it reads: the run is the graph they make, and reading another is an error."""
    name: str
    run: Callable[["StageContext"], None]
    version: int = 1
    inputs: tuple[str, ...] = ()
    trains: bool = False                  # it trains a model (executors give it --gpus-per-stage devices)


@dataclass
class EnginePool:
    """Keeps the most recently used engine loaded, so consecutive stages on one model load it once."""
    engine: str                              # a key of engines.registry.ENGINES
    current: tuple = field(default=(None, None))
    cache_stats: dict = field(default_factory=lambda: {"hits": 0, "misses": 0, "corrupt": 0})

    def get(self, spec):
        from harness.engines.registry import make_engine
        if self.current[0] != spec:
            self.close()                     # free the old model before loading the next
            self.current = (spec, make_engine(self.engine, spec))
        return self.current[1]

    @property
    def alive(self) -> bool:
        return self.current[1] is not None

    def close(self) -> None:
        """Release the current engine (vLLM's worker process, the generation cache's connection) and
        the memory it held, so a training stage or the next model finds the GPU empty."""
        old = self.current[1]
        self.current = (None, None)
        if old is None:
            return
        cache = getattr(old, "cache", None)
        if cache is not None:
            for key in self.cache_stats:
                self.cache_stats[key] += getattr(cache, key)
        if hasattr(old, "close"):
            old.close()
        del old
        release_memory()


def release_memory() -> None:
    """Collect what a closed engine or a finished training left, and return CUDA's cached blocks and
    freed heap pages (glibc keeps them otherwise, and the process's RSS never falls)."""
    import gc
    import sys
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass                                 # not glibc: nothing to trim


def reset_peak_rss() -> bool:
    """Linux: writing 5 to clear_refs resets VmHWM, so the next peak_rss_mb is this stage's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float | None:
    """The process's peak resident memory (VmHWM) since the last reset, in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


@dataclass
class StageContext:
    cfg: RunConfig
    run_dir: Path
    name: str
    base_model: str                         # resolved hub id or directory
    engines: EnginePool
    cache_dir: Path | None = None           # OUT/cache: generations (gencache.py), trained models (sftcache.py)
    inputs: dict = field(default_factory=dict)   # stage -> token of the DONE it read (recorded in DONE)
    declared: tuple[str, ...] | None = None       # the stage's declared inputs (None: not checked)
    cache_shard: str | None = None          # an executor's worker writes generations here (gencache.merge)
    train_seed: int | None = None           # a seeded training stage's seed (None: the data seed)

    @property
    def dir(self) -> Path:
        return self.run_dir / self.name

    @property
    def data_dir(self) -> Path | None:
        return data_dir(self.cfg.data_dir)

    def input(self, stage: str) -> Path:
        if self.declared is not None and stage not in self.declared:
            raise RuntimeError(f"stage {self.name} reads {stage}, which is not among its declared inputs "
                               f"({', '.join(self.declared) or 'none'}): add it to the Stage's inputs")
        path = self.run_dir / stage
        if not (path / layout.DONE).exists():
            raise RuntimeError(f"stage {self.name} needs {stage}, which has not finished")
        self.inputs[stage] = done_token(path)
        return path

    def engine(self, adapter: str | None = None, model: str | None = None):
        from harness.engines.protocol import EngineSpec
        spec = EngineSpec(model=model or self.base_model, adapter=adapter, dtype=self.cfg.dtype,
                          batch_size=self.cfg.batch_size, trust_remote_code=self.cfg.trust_remote_code,
                          cache=str(self.cache_dir / layout.GENERATIONS) if self.cache_dir else None,
                          prompt_style=self.cfg.prompt_style, cache_shard=self.cache_shard)
        return self.engines.get(spec)


def config_hash(cfg: RunConfig) -> str:
    blob = json.dumps({"harness": __version__, **cfg.identity()}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
        return out.stdout.strip() or None
    except OSError:
        return None


def prepare_run_dir(cfg: RunConfig, out: Path, meta: dict | None = None) -> Path:
    """OUT/runs/<hash of the config>; refuses a directory whose config.json records another config.
    `meta` (the resolved prompt style, the model's label) is recorded beside the config, not in it."""
    run_dir = layout.run_dir(out, config_hash(cfg))
    record = run_dir / layout.CONFIG
    ours = json.loads(json.dumps(cfg.identity(), default=str))
    if record.exists():
        try:
            theirs = json.loads(record.read_text()).get("config")
        except (json.JSONDecodeError, AttributeError):
            theirs = "unreadable"
        if theirs != ours:
            raise ValueError(f"{run_dir} belongs to a different config (its config.json does not match this "
                             f"run's); it was edited or written by other code. Use another --out, or delete "
                             f"{run_dir} to recompute it")
        old = json.loads(record.read_text())
        if meta and any(old.get(k) != v for k, v in meta.items()):
            write_json(record, {**old, **meta})
        return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(record, {"hash": run_dir.name, "harness": __version__, "git_sha": git_sha(), "config": ours,
                        **(meta or {})})
    return run_dir


def check_leaderboard_owner(out: Path, run_hash: str, overwrite: bool) -> None:
    """OUT/leaderboard.json is one config's table; a bench of another config must not replace it
    silently (the runs of both stay under OUT/runs/ either way)."""
    if overwrite:
        return
    for path in (out / layout.LEADERBOARD, out / layout.SIDE_EFFECTS):
        if path.exists():
            _check_owner(path, out, run_hash)


def _check_owner(path: Path, out: Path, run_hash: str) -> None:
    try:
        runs = {r.get("run") for r in json.loads(path.read_text())}
    except (json.JSONDecodeError, AttributeError, TypeError):
        return                                   # unreadable: nothing worth protecting, rewrite it
    if runs and runs != {run_hash}:
        raise ValueError(f"{path} is the leaderboard of run {', '.join(sorted(map(str, runs)))}, a different "
                         f"config from this one ({run_hash}); results of two configs would mix. Use another "
                         f"--out, or pass --overwrite to replace that leaderboard (its run stays in "
                         f"{out / 'runs'})")


def unique(stages: list[Stage]) -> list[Stage]:
    seen: dict[str, Stage] = {}
    for s in stages:
        seen.setdefault(s.name, s)
    return list(seen.values())


class BusyError(RuntimeError):
    """Another process holds the run directory."""


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """One bench per run directory at a time: two writers would interleave stage outputs."""
    import fcntl
    with open(run_dir / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise BusyError(f"another harness process (pid {handle.read().strip() or '?'}) is running in "
                            f"{run_dir}; wait for it to finish, or use another --out") from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def stage_lock(run_dir: Path, name: str) -> Iterator[None]:
    """One process per stage (the executors' workers): a second one on the same stage is an error."""
    import fcntl
    path = run_dir / layout.LOCKS / f"{layout.flat(name)}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(f"stage {name} of {run_dir} is already running in another process") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def out_lock(out: Path) -> Iterator[None]:
    """Serialise what benches share in one --out (the leaderboard's ownership check and its write):
    a short critical section, so a second process waits instead of failing."""
    import fcntl
    Path(out).mkdir(parents=True, exist_ok=True)
    with open(Path(out) / ".leaderboard.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def done_token(stage_dir: Path) -> str | None:
    """What a reader of a stage depends on: its code version and its outputs, as DONE records them."""
    try:
        done = json.loads((stage_dir / layout.DONE).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return hashlib.sha256(json.dumps([done.get("version", 1), done.get("files")], sort_keys=True)
                          .encode()).hexdigest()[:16]


def stale(run_dir: Path, name: str, version: int) -> str | None:
    """Why a finished stage must run again (its code version changed, or a stage it read was
    recomputed since), or None. A stage without DONE is not stale, just unfinished."""
    try:
        done = json.loads((run_dir / name / layout.DONE).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(done, dict):
        return None
    if done.get("version", 1) != version:
        return f"its code version changed ({done.get('version', 1)} -> {version})"
    for stage, token in (done.get("inputs") or {}).items():
        if done_token(run_dir / stage) != token:
            return f"{stage}, which it read, was recomputed"
    return None


def finished(run_dir: Path, name: str, version: int = 1) -> bool:
    """DONE exists, for this code version and these inputs, and the outputs are the ones it
    recorded. A changed or truncated output is reported and the stage recomputed, never silently
    used; a changed version or input recomputes it from an empty folder."""
    stage_dir = run_dir / name
    done = stage_dir / layout.DONE
    if not done.exists():
        return False
    reason = stale(run_dir, name, version)
    if reason:
        console.print(f"[yellow]{stage_dir}: {reason}; recomputing the stage[/yellow]", soft_wrap=True)
        shutil.rmtree(stage_dir)
        return False
    try:
        recorded = json.loads(done.read_text()).get("files")
    except (json.JSONDecodeError, AttributeError):
        recorded = {}
    actual = digest(stage_dir) if recorded is not None else None
    if recorded is not None and recorded != actual:
        changed = sorted(k for k in recorded.keys() | actual.keys() if recorded.get(k) != actual.get(k))
        console.print(f"[yellow]{stage_dir}: outputs differ from those recorded in DONE "
                      f"({', '.join(changed[:3])}); recomputing the stage[/yellow]", soft_wrap=True)
        done.unlink()
        return False
    return True


def run_stages(stages: list[Stage], make_ctx: Callable[[str], StageContext]) -> dict[str, dict]:
    """Run each stage not already DONE, in order; return the wall time and peak RSS (MB; the
    process's peak while the stage ran, Linux only) of each stage that ran."""
    times = {}
    for stage in unique(stages):
        ctx = make_ctx(stage.name)
        ctx.declared = stage.inputs
        if finished(ctx.run_dir, stage.name, stage.version):
            console.print(f"[dim]skip {stage.name} (done)[/dim]")
            continue
        console.print(f"[bold]stage[/bold] {stage.name}")
        ctx.dir.mkdir(parents=True, exist_ok=True)
        reset_peak_rss()
        start = time.time()
        stage.run(ctx)
        times[stage.name] = {"seconds": round(time.time() - start, 2), "peak_rss_mb": peak_rss_mb(),
                             "finished": round(time.time(), 3)}
        release_memory()
        failpoint(f"stage-done:{stage.name}")
        # Written last: its presence means every output of the stage is complete, as fingerprinted.
        write_text(ctx.dir / layout.DONE, json.dumps({
            **times[stage.name], "version": stage.version, "inputs": ctx.inputs, "files": digest(ctx.dir)}) + "\n")
    return times
