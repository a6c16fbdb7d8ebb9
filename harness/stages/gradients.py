"""GRAIT's stage of its own: LoRA gradient features of its candidate rows on the warmup model."""
from __future__ import annotations

from harness.data.prompts import idk_target
from harness.knowledge import construct
from harness.run import layout
from harness.run.io import read_jsonl, write_json
from harness.run.stage import Stage, StageContext
from harness.stages.rows import TRAIN_STYLE, text
from harness.stages.training import tuned_model

GRADIENTS = 2      # code version; 2: also the "I don't know" features of every vanilla candidate


def gradient_candidates(table: list[dict], d) -> tuple[list[dict], list[dict], list[dict]]:
    """GRAIT's rows whose gradients are computed: D_van, the N_van best-known vanilla candidates (by mu,
    table order on ties: the code's top-4,000 by correctness), every vanilla candidate and every idk
    candidate."""
    van, idk = construct.candidates(table, construct.params(d).thresholds)
    return construct.best_known(van, d.n_van), van, idk


def gradients_stage(kind: str, dim: int, lora: dict) -> Stage:
    """LoRA gradient features (training.gradients) on the warmup model, the rehearsal's (GRAIT warms a
    LoRA up on the questions M0 knows best, CRaFT's rehearsal set), all in the refusal training prompt:
    of D_van with its gold answers (the selection's agreement), and of every vanilla and idk candidate
    with the "I don't know" target (the loss weights' delta, as construct_grait_data.py takes it)."""
    def run(ctx: StageContext) -> None:
        import numpy as np

        from harness.training.gradients import features
        d = ctx.cfg.domain(kind)
        table = read_jsonl(ctx.input(layout.query(kind)) / layout.KNOWLEDGE)
        by_id = {it["id"]: it for it in read_jsonl(ctx.input(layout.pool(kind)) / layout.ITEMS)}
        van, van_all, idk = gradient_candidates(table, d)
        idk_text = idk_target(kind, ctx.cfg.preset.scoring.choice_prompt)
        keys = [(r["id"], "gold") for r in van] + [(r["id"], "refusal") for r in van_all + idk]
        rows = [{"prompt": text(ctx, by_id[i], TRAIN_STYLE), "target": by_id[i]["answer"] if t == "gold" else idk_text}
                for i, t in keys]
        warmup = tuned_model(ctx, layout.rehearse(kind))
        ctx.engines.close()
        feats, report = (features(ctx.base_model, rows, warmup, dim=dim, seed=ctx.cfg.seed, lora=lora,
                                  max_length=d.sft.max_length, trust_remote_code=ctx.cfg.trust_remote_code,
                                  prompt_style=ctx.cfg.prompt_style) if rows
                         else (np.zeros((0, dim), dtype=np.float32), {"rows": 0}))
        np.save(ctx.dir / layout.FEATURES, feats)
        write_json(ctx.dir / layout.FEATURE_IDS, [list(k) for k in keys])
        write_json(ctx.dir / layout.MANIFEST, {**report, "n_van": len(van), "n_van_candidates": len(van_all),
                                               "n_idk_candidates": len(idk)})
    return Stage(layout.gradients(kind), run, GRADIENTS, (layout.query(kind), layout.pool(kind), layout.rehearse(kind)),
                 trains=True)
