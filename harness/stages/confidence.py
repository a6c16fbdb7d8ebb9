"""R-Tuning's confidence of a model's test answers, and their average precision (r-tuning-unsure)."""
from __future__ import annotations

from harness.knowledge import query as knowledge
from harness.run import layout
from harness.run.io import read_jsonl, write_json, write_jsonl
from harness.run.stage import Stage, StageContext
from harness.stages.training import tuned_model

CONFIDENCE = 1      # code version


def confidence_stage(label: str, task: str, trained: str | None) -> Stage:
    """R-Tuning's AP (calculate_ap.py) of a model trained to say whether it is sure: each test answer's
    confidence 0.5 p(answer) + 0.5 P(sure), ranked against the answer's correctness. P(sure): after
    the prompt, the answer and ". Are you sure you accurately answered the question based on your
    internal knowledge? I am", " sure" against " unsure" (first tokens, renormalised). p(answer): MCQA
    the largest option-letter probability (run_MMLU.py); OEQA the geometric mean of the probabilities
    of the answer's first 5 tokens (the code's greedy answer of up to 5 tokens). Correctness is the
    answer's before its question, scored as the run scores."""
    import math

    from harness.scoring.evaluate import task_info
    from harness.scoring.metrics import average_precision
    from harness.scoring.classify import classify_choice, classify_open, rtuning_answer
    from harness.data.prompts import LETTERS, RTUNING_QUESTION

    def run(ctx: StageContext) -> None:
        records = read_jsonl(ctx.input(layout.evaluation(label, task)) / layout.RECORDS)
        items = {it["id"]: it for it in read_jsonl(ctx.input(layout.tests(task)) / layout.ITEMS)}
        engine = ctx.engine(**(tuned_model(ctx, trained) if trained else {}))
        scoring, kind = ctx.cfg.preset.scoring, task_info(task).kind
        said = [rtuning_answer(r["answer"]) for r in records]
        sure = engine.option_logprobs([f"{r['prompt']}{a.rstrip('. ')}. {RTUNING_QUESTION} I am"
                                       for r, a in zip(records, said)], [" sure", " unsure"], desc="P(sure)")
        p_sure = [1 / (1 + math.exp(u - s)) for s, u in sure]
        if kind == "choice":
            asked = [items[r["id"]] for r in records]
            letter_lps = knowledge.letter_logprobs(engine, [r["prompt"] for r in records], asked)
            p_answer = [max(knowledge.option_probs(lp)) for lp in letter_lps]
            correct = [classify_choice(a, r["gold"], LETTERS[:len(it["choices"])], scoring.refusal, "wrong")[0]
                       == "correct" for r, a, it in zip(records, said, asked)]
        else:
            tokens = engine.continuation_logprobs([r["prompt"] for r in records], said, desc="p(answer)")
            p_answer = [math.exp(sum(t[:5]) / len(t[:5])) if t else 0.0 for t in tokens]
            correct = [classify_open(a, r["gold"], scoring.correctness, scoring.refusal) == "correct"
                       for r, a in zip(records, said)]
        rows = [{"id": r["id"], "answer": a, "p_answer": pa, "p_sure": ps, "confidence": 0.5 * pa + 0.5 * ps,
                 "correct": c} for r, a, pa, ps, c in zip(records, said, p_answer, p_sure, correct)]
        write_jsonl(ctx.dir / layout.CONFIDENCE_ROWS, rows)
        write_json(ctx.dir / layout.AP, {"ap": average_precision([x["confidence"] for x in rows],
                                                                 [x["correct"] for x in rows]),
                                         "n": len(rows), "right": sum(correct)})
    return Stage(layout.confidence(label, task), run, CONFIDENCE,
                 (layout.evaluation(label, task), layout.tests(task), *([trained] if trained else [])))
