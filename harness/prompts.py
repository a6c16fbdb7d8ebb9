"""Every prompt the harness shows a model, in one place, so training, querying and testing agree."""
from __future__ import annotations

from typing import Sequence

IDK = "I don't know"
LETTERS = "ABCDE"
# CRaFT code, train/map_funs.py (map_fn_triviaqa_REFUSE1): the instruction RAIT models are trained with.
REFUSE_PREFIX = "Answer the following question, and if you don't know the answer, only reply with 'I don't know': "
STYLES = {"basic": "", "refuse": REFUSE_PREFIX}
# CRaFT code, map_fn_triviaqa_BASIC2_3ShotFromTrain: the knowledge query's three TriviaQA-train shots.
OPEN_SHOTS = (
    ("Who was President when the first Peanuts cartoon was published?", "Harry Truman"),
    ("Which American-born Sinclair won the Nobel Prize for Literature in 1930?", "Sinclair Lewis"),
    ("Where in England was Dame Judi Dench born?", "York"),
)
SHOT_INSTRUCTION = "Answer the following question as simple as possible."


def styled(body: str, style: str) -> str:
    if style not in STYLES:
        raise ValueError(f"unknown prompt style {style!r}; valid: {', '.join(STYLES)}")
    return STYLES[style] + body


def open_body(question: str) -> str:
    return question.strip()


def choice_body(question: str, choices: Sequence[str], subject: str | None = None) -> str:
    about = f" about {subject.replace('_', ' ')}" if subject else ""
    letters = ", ".join(LETTERS[:len(choices) - 1]) + f" or {LETTERS[len(choices) - 1]}"
    lines = [f"The following is a multiple choice question{about}. Reply with only the letter "
             f"({letters}) of the correct answer.", f"Question: {question.strip()}"]
    lines += [f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)]
    return "\n".join(lines) + "\nAnswer:"


def open_fewshot(question: str, shots: Sequence[tuple[str, str]] = OPEN_SHOTS,
                 multiturn: bool = False) -> str | list[dict]:
    """The 3-shot query prompt: one text block (the CRaFT code), or chat turns, one per shot."""
    def ask(q: str) -> str:
        return f"{SHOT_INSTRUCTION}\nQuestion: {q.strip()}\nAnswer:"
    if multiturn:
        turns = [t for q, a in shots for t in ({"role": "user", "content": ask(q)},
                                                {"role": "assistant", "content": a})]
        return turns + [{"role": "user", "content": ask(question)}]
    return "\n\n".join([f"{ask(q)}\n{a}" for q, a in shots] + [ask(question)])


def choice_fewshot(body: str, shots: Sequence[tuple[str, str]]) -> str:
    """`shots` are (choice_body, gold letter) pairs, e.g. MMLU dev questions of the same subject."""
    return "\n\n".join([f"{b} {a}" for b, a in shots] + [body])


def render_chat(tokenizer, user: str | list[dict]) -> str:
    """The text a model sees for one user turn or a list of chat messages: the tokenizer's chat
    template with the assistant turn opened, or for base models the turns as plain lines.
    Training (harness.sft) and every engine use this, so a tuned model is asked as it was taught."""
    messages = [{"role": "user", "content": user}] if isinstance(user, str) else list(user)
    if not getattr(tokenizer, "chat_template", None):
        return "\n".join(m["content"] for m in messages)
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
