"""Per-sample generation cache: every sampled or greedy answer, keyed by what determines it
(the storage; engines/cache.py puts it around an engine).

Key = sha256 of (engine kind, model fingerprint, adapter fingerprint, dtype, prompt, sampling
parameters, seed, sample index). The batch size is not in the key: engines seed each prompt's
samples from the prompt itself, so an answer does not depend on which batch it was drawn in.

SQLite (stdlib) because it gives atomic, crash-safe commits: a run killed with SIGKILL loses at most
the batch in flight, and two runs sharing one output directory can write concurrently. SQLite's
locks are not safe over NFS, so the executors that run stages in other processes (harness.executors)
give each stage a shard of its own to write (`shard`), reading the main file alongside, and the
driver merges the shards into the main file when no stage runs (merge). Each entry
stores a checksum of its value; an entry whose checksum does not match is reported and recomputed,
and a database file that SQLite cannot read is moved aside (kept for inspection) and started afresh.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Sequence

from rich.console import Console

from harness.run.faults import failpoint
from harness.run.fingerprint import model_id
from harness.run.fingerprint import sha as _sha

console = Console(stderr=True)
SCHEMA = "CREATE TABLE IF NOT EXISTS gen (key TEXT PRIMARY KEY, value TEXT NOT NULL, checksum TEXT NOT NULL)"


def sample_seed(seed: int, prompt: str, index: int = 0) -> int:
    """A sample's own seed: from the run seed, the prompt text and the sample index only."""
    return int(_sha(f"{seed}\x00{index}\x00{prompt}")[:15], 16)


class GenCache:
    def __init__(self, path: str | os.PathLike, engine: str, model: str, adapter: str | None, dtype: str,
                 shard: str | os.PathLike | None = None):
        main = Path(path)
        self.path = Path(shard) if shard else main
        self.scope = json.dumps([engine, model_id(model), model_id(adapter), dtype])
        self.hits = self.misses = self.corrupt = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = self._open()
        # a shard's process reads the main file too, read-only
        self.main = sqlite3.connect(f"file:{main}?mode=ro", uri=True, timeout=120) if shard and main.exists() else None

    def _open(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, timeout=120)
            db.execute(SCHEMA)
            db.execute("SELECT count(*) FROM gen").fetchone()
            return db
        except sqlite3.DatabaseError as err:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            os.replace(self.path, aside)
            console.print(f"[yellow]generation cache {self.path} is unreadable ({err}); moved it to "
                          f"{aside} and starting an empty cache[/yellow]", soft_wrap=True)
            db = sqlite3.connect(self.path, timeout=120)
            db.execute(SCHEMA)
            return db

    def key(self, prompt: str, params: dict, seed: int, index: int) -> str:
        return _sha(json.dumps([self.scope, prompt, params, seed, index], sort_keys=True))

    def get(self, prompt: str, params: dict, seed: int, n: int) -> list[str] | None:
        """All n samples of a prompt, or None when any is missing or corrupt."""
        keys = [self.key(prompt, params, seed, k) for k in range(n)]
        marks = ",".join("?" * n)
        query = f"SELECT key, value, checksum FROM gen WHERE key IN ({marks})"
        found = dict((k, (v, c)) for k, v, c in self.db.execute(query, keys))
        if self.main is not None and len(found) < n:
            found = {**dict((k, (v, c)) for k, v, c in self.main.execute(query, keys)), **found}
        out = []
        for k in keys:
            if k not in found:
                self.misses += 1
                return None
            value, checksum = found[k]
            if _sha(value) != checksum:
                self.corrupt += 1
                console.print(f"[yellow]generation cache entry {k[:12]} fails its checksum; "
                              f"recomputing it[/yellow]")
                return None
            out.append(json.loads(value))
        self.hits += 1
        return out

    def put(self, entries: Sequence[tuple[str, list[str]]], params: dict, seed: int) -> None:
        """Store (prompt, samples) pairs in one transaction: all of a batch or none of it."""
        rows = []
        for prompt, samples in entries:
            for k, text in enumerate(samples):
                value = json.dumps(text, ensure_ascii=False)
                rows.append((self.key(prompt, params, seed, k), value, _sha(value)))
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO gen VALUES (?, ?, ?)", rows)
        failpoint("gencache-put")

    def close(self) -> None:
        self.db.close()
        if self.main is not None:
            self.main.close()


def merge(main: Path, shards: Path) -> int:
    """Every shard's entries into the main file, then the shard removed; the entries merged. Called
    by the one process that runs no stage (the executor's driver), before and after its stages."""
    files = sorted(Path(shards).glob("*.sqlite")) if Path(shards).is_dir() else []
    if not files:
        return 0
    main.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(main, timeout=120)
    db.execute(SCHEMA)
    merged = 0
    try:
        for shard in files:
            db.execute("ATTACH DATABASE ? AS shard", (str(shard),))
            try:
                with db:
                    merged += db.execute("INSERT OR IGNORE INTO gen SELECT key, value, checksum FROM shard.gen").rowcount
            except sqlite3.DatabaseError as err:       # unreadable: what its killed writer left
                console.print(f"[yellow]generation cache shard {shard} is unreadable ({err}); skipped[/yellow]")
            finally:
                db.execute("DETACH DATABASE shard")
            for f in shard.parent.glob(shard.name + "*"):
                f.unlink()
    finally:
        db.close()
    return merged
