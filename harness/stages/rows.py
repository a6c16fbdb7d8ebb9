"""How a stage turns a pool item into prompt text and a selection into training rows."""
from __future__ import annotations

from harness.data.prompts import idk_target, question_text
from harness.run.stage import StageContext

TRAIN_STYLE = "refuse"    # CRaFT code trains RAIT data with the REFUSE1 prompt (train/*__REFUSE1.py)


def text(ctx: StageContext, item: dict, style: str) -> str:
    return question_text(item, style, ctx.cfg.preset.scoring.choice_prompt)


def sft_rows(ctx: StageContext, kind: str, items: list[dict], selected: list[dict]) -> list[dict]:
    """One training row per selected row, in order (an id drawn twice trains twice): its own target
    (and `rejected`, `weight`) where the method wrote them, else the gold answer (vanilla) or "I don't
    know" (idk)."""
    by_id = {it["id"]: it for it in items}
    idk = idk_target(kind, ctx.cfg.preset.scoring.choice_prompt)
    return [{"id": r["id"], "label": r["label"], "prompt": text(ctx, by_id[r["id"]], TRAIN_STYLE),
             "target": r.get("target", by_id[r["id"]]["answer"] if r["label"] == "vanilla" else idk),
             **{k: v for k, v in r.items() if k not in ("id", "label", "target")}} for r in selected]
