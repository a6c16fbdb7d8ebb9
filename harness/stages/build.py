"""A method's training set: D_van and D_idk by its own `select`, and their conflict rate (CRSS)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from harness.data.prompts import idk_target
from harness.knowledge import construct
from harness.run import layout
from harness.run.io import read_jsonl, write_json, write_jsonl
from harness.run.stage import Stage, StageContext, console
from harness.stages.knowledge import read_knowledge, table_inputs
from harness.stages.rows import sft_rows, text

CRSS = 1      # code version (a build stage carries its method's version)


def build_stage(method: str, kind: str, select, version: int, table: str, extra: Sequence[str] = ()) -> Stage:
    """D_van and D_idk by the method's `select` on its table, joined with the columns its own stages
    wrote (`extra`: their names; each may write layout.COLUMNS, rows of id and columns); the shortfall
    goes into the manifest. Pure: reads tables, loads no model."""
    def run(ctx: StageContext) -> None:
        idk = idk_target(kind, ctx.cfg.preset.scoring.choice_prompt)
        rows = with_columns(read_knowledge(ctx, kind, table), [ctx.input(name) for name in extra])
        sel = construct.apply(select, table, rows, construct.params(ctx.cfg.domain(kind), idk), seed=ctx.cfg.seed)
        construct.write_selection(sel, ctx.dir / layout.SELECTION)
        items = read_jsonl(ctx.input(layout.pool(kind)) / layout.ITEMS)
        write_jsonl(ctx.dir / layout.SFT_DATA, sft_rows(ctx, kind, items, list(sel.rows)))
        write_json(ctx.dir / layout.MANIFEST, {"rule": method, **sel.to_manifest()})
        short = sel.shortfall
        if short["vanilla"] or short["idk"]:
            console.print(f"[yellow]warning: {method} ({kind}): asked {sel.n_van_asked} vanilla / {sel.n_idk_asked} idk "
                          f"rows, the pool has {sel.n_van_candidates} / {sel.n_idk_candidates} candidates: short by "
                          f"{short['vanilla']} / {short['idk']} (flagged 'short' on the leaderboard)[/yellow]")
    return Stage(layout.build(kind, method), run, version, (*table_inputs(kind, table), *extra))


def with_columns(rows: list[dict], stage_dirs: list[Path]) -> list[dict]:
    """The table's rows with the columns of the stages' layout.COLUMNS files, by id."""
    for where in stage_dirs:
        if (where / layout.COLUMNS).exists():
            columns = {r["id"]: r for r in read_jsonl(where / layout.COLUMNS)}
            rows = [{**columns.get(r["id"], {}), **r} for r in rows]
    return rows


def crss_stage(method: str, kind: str) -> Stage:
    """CRSS of the method's constructed set (write_crss), on M0's hidden states."""
    def run(ctx: StageContext) -> None:
        rows = read_jsonl(ctx.input(layout.build(kind, method)) / layout.SFT_DATA)
        write_crss(ctx, read_jsonl(ctx.input(layout.pool(kind)) / layout.ITEMS), rows)
    return Stage(layout.crss(kind, method), run, CRSS, (layout.build(kind, method), layout.pool(kind)))


def write_crss(ctx: StageContext, items: list[dict], rows: list[dict], tau_sim: float = 0.97) -> None:
    """Conflict rate of similar samples: share of D_idk whose nearest D_van question (M0's last
    hidden layer, mean over tokens) is more similar than tau_sim."""
    import numpy as np
    by_id = {it["id"]: it for it in items}
    van = list(dict.fromkeys(r["id"] for r in rows if r["label"] == "vanilla"))
    idk = list(dict.fromkeys(r["id"] for r in rows if r["label"] == "idk"))
    result = {"tau_sim": tau_sim, "n_idk": len(idk), "n_van": len(van), "crss": None}
    if van and idk:
        engine = ctx.engine()
        try:
            emb = np.asarray(engine.hidden_states(
                [engine.apply_template(text(ctx, by_id[i], "basic")) for i in van + idk]))
        except NotImplementedError as err:       # e.g. vLLM exposes no hidden layers
            result["reason"] = str(err)
        else:
            emb /= np.clip(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12, None)
            best = (emb[len(van):] @ emb[:len(van)].T).max(axis=1)
            result.update(crss=float((best > tau_sim).mean()), max_similarity_mean=float(best.mean()))
    write_json(ctx.dir / layout.CRSS, result)
