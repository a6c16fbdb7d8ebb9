"""The run as a graph: each stage and the stages it declares it reads. Its order, its critical path,
and how long it takes on N workers (each stage on one worker, a stage starting once its inputs are
DONE) from each stage's estimated seconds."""
from __future__ import annotations

import heapq
from typing import Mapping, Sequence

from harness.run.stage import Stage


def edges(stages: Sequence[Stage]) -> dict[str, tuple[str, ...]]:
    """Stage -> the stages of this list it reads (inputs finished in an earlier run are not edges)."""
    names = {s.name for s in stages}
    return {s.name: tuple(i for i in s.inputs if i in names) for s in stages}


def check_order(stages: Sequence[Stage]) -> None:
    """Every stage comes after the stages it reads, so running the list in order is a valid schedule."""
    seen: set[str] = set()
    for name, reads in edges(stages).items():
        late = [i for i in reads if i not in seen]
        if late:
            raise ValueError(f"stage {name} reads {', '.join(late)}, which come after it in the schedule")
        seen.add(name)


def readers(stages: Sequence[Stage]) -> dict[str, list[str]]:
    """Stage -> the stages of this list that read it."""
    out: dict[str, list[str]] = {s.name: [] for s in stages}
    for name, reads in edges(stages).items():
        for i in reads:
            out[i].append(name)
    return out


def tails(stages: Sequence[Stage], seconds: Mapping[str, float]) -> dict[str, float]:
    """Each stage's seconds plus the longest chain of stages that read it, transitively."""
    readers_of = readers(stages)
    tail: dict[str, float] = {}
    for s in reversed(stages):                 # readers come later in a checked order
        tail[s.name] = seconds.get(s.name, 0.0) + max((tail[r] for r in readers_of[s.name]), default=0.0)
    return tail


def critical_path(stages: Sequence[Stage], seconds: Mapping[str, float]) -> tuple[float, list[str]]:
    """The longest chain of stages, each reading the one before: no number of workers runs the
    graph faster than its seconds."""
    if not stages:
        return 0.0, []
    graph, tail, readers_of = edges(stages), tails(stages, seconds), readers(stages)
    roots = [s.name for s in stages if not graph[s.name]]
    path = [max(roots, key=lambda n: tail[n])]
    while readers_of[path[-1]]:
        path.append(max(readers_of[path[-1]], key=lambda n: tail[n]))
    return tail[path[0]], path


def makespan(stages: Sequence[Stage], seconds: Mapping[str, float], workers: int) -> float:
    """Seconds on `workers` workers, list-scheduled: whenever a worker is free it takes the ready
    stage with the longest chain behind it (the pool executor's order)."""
    graph, tail = edges(stages), tails(stages, seconds)
    waiting = {name: set(reads) for name, reads in graph.items()}
    order = {s.name: i for i, s in enumerate(stages)}
    ready = [(-tail[n], order[n], n) for n, reads in waiting.items() if not reads]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    now = 0.0
    while ready or running:
        while ready and len(running) < workers:
            _, _, name = heapq.heappop(ready)
            heapq.heappush(running, (now + seconds.get(name, 0.0), name))
        now, done = heapq.heappop(running)
        for name, reads in waiting.items():
            if done in reads:
                reads.discard(done)
                if not reads:
                    heapq.heappush(ready, (-tail[name], order[name], name))
    return now


def schedule_lines(stages: Sequence[Stage], seconds: Mapping[str, float], workers: int, unit: str) -> list[str]:
    """The one-process time, the critical path and the wall time on `workers` workers, as text."""
    total = sum(seconds.get(s.name, 0.0) for s in stages)
    path_seconds, path = critical_path(stages, seconds)
    wall = makespan(stages, seconds, workers)
    shown = " -> ".join(path) if len(path) <= 8 else " -> ".join(path[:4] + ["..."] + path[-3:])
    return [f"schedule ({unit}): one process {total / 3600:.2f} h; critical path {path_seconds / 3600:.2f} h "
            f"({len(path)} stages: {shown})",
            f"  on {workers} worker{'s' if workers > 1 else ''} (one stage each, harness bench --executor pool "
            f"--workers {workers}): {wall / 3600:.2f} h, {total / wall if wall else 1:.1f}x faster than one process"]
