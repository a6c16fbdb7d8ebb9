"""Who runs a bench's stages: `local` (this process, one after another), `pool` (N worker processes on
this host, each pinned to its own devices), `submitit` (a job per stage through submitit: Slurm on a
cluster, its local executor here). Every executor runs the same stage code on the same run
directory: a stage starts once the stages it reads are DONE, writes its folder and DONE last.

Besides the stages, one process (the driver: the `harness bench` command) decides what runs; it
holds the run's lock, dispatches each stage once, takes a worker's failure as the end of the run
(what finished is kept; the same command resumes), and merges the generation-cache shards the
workers wrote (gencache: SQLite is not safe over NFS, so no two processes write one file).
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from harness.run import layout
from harness.run.config import RunConfig
from harness.run.graph import edges, tails
from harness.run.stage import EnginePool, Stage, StageContext, console, finished, run_stages, stage_lock

EXECUTORS = {"local": "this process, one stage after another",
             "pool": "N worker processes on this host (--workers), each pinned to its own devices",
             "submitit": "a submitit job per stage: Slurm (--slurm-partition ...), or its local executor"}


@dataclass(frozen=True)
class Executor:
    """How a bench runs its stages (not part of the run's identity: every executor gives the same run
    directory). `devices`: the GPUs the pool hands out (default: every visible one; none on a CPU
    machine, where each worker is a CPU process); `gpus_per_stage`: the devices a training stage
    takes (full fine-tuning under --train-launcher torchrun); `cluster`: submitit's (slurm, local, or
    None: slurm where sbatch is on the PATH); `slurm`: submitit's parameters (slurm_partition,
    timeout_min, gpus_per_node, cpus_per_task, mem_gb, ...)."""
    name: str = "local"
    workers: int = 1
    devices: tuple[str, ...] | None = None
    gpus_per_stage: int = 1
    shards: int = 1                       # data-parallel evaluation: each evaluation in this many stages
    cluster: str | None = None
    slurm: tuple[tuple[str, object], ...] = ()

    def __post_init__(self) -> None:
        if self.name not in EXECUTORS:
            raise ValueError(f"unknown executor {self.name!r}; valid: {', '.join(EXECUTORS)}")
        if min(self.workers, self.gpus_per_stage, self.shards) < 1:
            raise ValueError(f"--workers, --gpus-per-stage and --data-parallel must be at least 1, got {self.workers}, "
                             f"{self.gpus_per_stage}, {self.shards}")

    def backend(self, run_dir: Path):
        if self.name == "pool":
            return _Pool(self.workers, list(self.devices if self.devices is not None else visible_gpus()),
                         self.gpus_per_stage, run_dir / layout.LOGS)
        params = dict(self.slurm)
        if self.cluster:
            params["cluster"] = self.cluster
        return _Submitit(self.workers, run_dir / layout.LOGS / "submitit", params)


def visible_gpus() -> list[str]:
    """The GPUs this process sees, by the index CUDA_VISIBLE_DEVICES gives a child."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d for d in visible.split(",") if d.strip()]
    try:
        import torch
        return [str(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        return []


@dataclass(frozen=True)
class Job:
    """What a worker needs to run one stage: it rebuilds the stage from the bench's arguments."""
    cfg: RunConfig
    methods: tuple[str, ...]
    tasks: tuple[str, ...]
    seeds: tuple
    run_dir: str
    base: str
    cache: str | None
    stage: str = ""
    shards: int = 1


def stage_of(job: Job) -> Stage:
    from harness.schedule import schedule
    for stage in schedule(list(job.methods), list(job.tasks), list(job.seeds), job.shards):
        if stage.name == job.stage:
            return stage
    raise ValueError(f"no stage {job.stage!r} in this bench's schedule")


def run_job(job: Job) -> dict:
    """One stage in this process (a worker): under its stage lock, writing its cache shard."""
    stage, run_dir = stage_of(job), Path(job.run_dir)
    cache = Path(job.cache) if job.cache else None
    shard = str(cache / layout.SHARDS / run_dir.name / f"{layout.flat(job.stage)}-{os.getpid()}.sqlite") if cache else None
    engines = EnginePool(job.cfg.engine)
    with stage_lock(run_dir, stage.name):
        try:
            return run_stages([stage], lambda name: StageContext(job.cfg, run_dir, name, job.base, engines, cache,
                                                                  cache_shard=shard))
        finally:
            engines.close()


def merge_shards(cache: Path | None, run_dir: Path) -> None:
    """This run's shards (another run sharing the cache merges its own)."""
    if cache is not None:
        from harness.engines.gencache import merge
        merge(cache / layout.GENERATIONS, cache / layout.SHARDS / run_dir.name)


class _Pool:
    """Worker processes on this host: `python -m harness.executors JOB`, one per stage, each with
    CUDA_VISIBLE_DEVICES set to its devices (none on a CPU machine)."""

    def __init__(self, workers: int, devices: list[str], gpus_per_stage: int, logs: Path):
        self.free = [[d] for d in devices] if devices else [[] for _ in range(workers)]
        self.workers, self.gpus_per_stage, self.logs = workers, gpus_per_stage, logs
        self.running: dict[str, tuple] = {}

    def can_start(self, stage: Stage) -> bool:
        need = self.gpus_per_stage if stage.trains and self.gpus_per_stage > 1 else 1
        return len(self.running) < self.workers and len(self.free) >= need

    def start(self, job: Job, stage: Stage) -> None:
        need = self.gpus_per_stage if stage.trains and self.gpus_per_stage > 1 else 1
        slots, self.free = self.free[:need], self.free[need:]
        devices = [d for slot in slots for d in slot]
        self.logs.mkdir(parents=True, exist_ok=True)
        path = self.logs / f"{layout.flat(stage.name)}.job"
        path.write_bytes(pickle.dumps(job))
        env = {**os.environ, **({"CUDA_VISIBLE_DEVICES": ",".join(devices)} if devices else {})}
        log = open(self.logs / f"{layout.flat(stage.name)}.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "harness.executors", str(path)], stdout=log,
                                stderr=subprocess.STDOUT, env=env)
        self.running[stage.name] = (proc, slots, log)

    def poll(self) -> list[tuple[str, int, str]]:
        """(stage, exit code, log file) of each worker that has ended."""
        ended = []
        for name, (proc, slots, log) in list(self.running.items()):
            if proc.poll() is not None:
                log.close()
                self.free += slots
                del self.running[name]
                ended.append((name, proc.returncode, log.name))
        return ended

    def wait(self) -> None:
        for proc, _, _ in self.running.values():
            proc.wait()
        self.poll()


class _Submitit:
    """A submitit job per stage, submitted once its inputs are DONE (the driver waits on the
    cluster's jobs, so a job never waits in the queue for another)."""

    def __init__(self, workers: int, folder: Path, params: dict):
        import submitit
        self.executor = submitit.AutoExecutor(folder=folder, cluster=params.pop("cluster", None))
        if params:
            self.executor.update_parameters(**params)
        self.workers, self.running = workers, {}

    def can_start(self, stage: Stage) -> bool:
        return len(self.running) < self.workers

    def start(self, job: Job, stage: Stage) -> None:
        self.running[stage.name] = self.executor.submit(run_job, job)

    def poll(self) -> list[tuple[str, int, str]]:
        ended = []
        for name, sub in list(self.running.items()):
            if sub.done():
                del self.running[name]
                try:
                    sub.result()
                    ended.append((name, 0, str(sub.paths.stdout)))
                except Exception as err:  # noqa: BLE001 (the job's failure, whatever it was, ends the run)
                    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                    ended.append((name, 1, f"{sub.paths.stderr} ({type(err).__name__}: {first})"))
        return ended

    def wait(self) -> None:
        while self.running:
            self.poll()
            time.sleep(0.5)


def drive(stages: list[Stage], job: Job, backend) -> dict[str, dict]:
    """Run every stage not DONE on `backend`, each once its inputs are DONE, the longest chain first;
    return each stage's figures (from its DONE). A failed stage ends the run after the running ones."""
    run_dir, cache = Path(job.run_dir), Path(job.cache) if job.cache else None
    merge_shards(cache, run_dir)               # what a killed run's workers left
    todo = [s for s in stages if not finished(run_dir, s.name, s.version)]
    done = {s.name for s in stages} - {s.name for s in todo}
    graph, tail = edges(stages), tails(stages, {s.name: 1.0 for s in stages})     # the longest chain first
    by_name = {s.name: s for s in stages}
    failed: list[str] = []
    started: list[str] = []
    try:
        while todo or backend.running:
            for name, code, log in backend.poll():
                if code == 0 and finished(run_dir, name, by_name[name].version):
                    done.add(name)
                    console.print(f"[bold]done[/bold] {name}")
                else:
                    failed.append(f"{name} (exit {code}; log: {log})")
            ready = sorted((s for s in todo if set(graph[s.name]) <= done), key=lambda s: -tail[s.name])
            for stage in ready if not failed else []:
                if not backend.can_start(stage):
                    break
                console.print(f"[bold]stage[/bold] {stage.name} (started)")
                backend.start(replace(job, stage=stage.name), stage)
                todo.remove(stage)
                started.append(stage.name)
            if failed and not backend.running:
                break
            if todo and not backend.running and not failed:
                why = "more devices than --devices gives (--gpus-per-stage)" if ready else \
                    f"stages that cannot run ({', '.join(graph[todo[0].name])})"
                raise RuntimeError(f"no stage can start: {(ready or todo)[0].name} needs {why}")
            time.sleep(0.2)
    finally:
        backend.wait()
        merge_shards(cache, run_dir)
    if failed:
        raise RuntimeError(f"stage {failed[0]} failed; every stage that finished is kept. Run the same "
                           "command to resume")
    return {name: _figures(run_dir / name) for name in started}


def _figures(stage_dir: Path) -> dict:
    import json
    done = json.loads((stage_dir / layout.DONE).read_text())
    return {k: done[k] for k in ("seconds", "peak_rss_mb", "finished") if k in done}


if __name__ == "__main__":          # a pool worker: python -m harness.executors JOBFILE
    from harness.run.progress import quiet_libraries
    quiet_libraries()
    run_job(pickle.loads(Path(sys.argv[1]).read_bytes()))
