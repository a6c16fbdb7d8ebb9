"""Every prompt the harness shows a model, in one place, so training, querying and testing agree."""
from __future__ import annotations

from typing import Sequence

IDK = "I don't know"
IDK_CHOICE_CODE = "I don't know."          # CRaFT code, mmlu_RAI.py LANG_TO_IDK: the MCQA target has a period
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


def _about(subject: str | None) -> str:
    return f" about {subject.replace('_', ' ')}" if subject else ""


def choice_body(question: str, choices: Sequence[str], subject: str | None = None) -> str:
    letters = _letters(len(choices))
    lines = [f"The following is a multiple choice question{_about(subject)}. Reply with only the letter "
             f"({letters}) of the correct answer.", f"Question: {question.strip()}"]
    lines += [f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)]
    return "\n".join(lines) + "\nAnswer:"


# CRaFT code (mmlu_info LANG_TO_INSTRUCTIONS, map_fn_mmlu): "{hint}\nQuestion: ...\nA. ...\nAnswer: ".
# BASIC is OpenCompass's MMLU hint; the REFUSE hint's wording is reconstructed from SPEC section 3
# (its file, mmlu_prompts.py, is not in the stored copy of the repository): see docs/fidelity.md.
CODE_CHOICE_HINTS = {
    "basic": "There is a single choice question{about}. Answer the question by replying {letters}.",
    "refuse": "There is a single choice question{about}. Answer the question by replying {letters}. "
              "If you don't know the answer, please respond with \"I don't know.\"",
}


def _letters(n: int) -> str:
    return ", ".join(LETTERS[:n - 1]) + f" or {LETTERS[n - 1]}"


def code_choice_text(question: str, choices: Sequence[str], subject: str | None, style: str) -> str:
    if style not in CODE_CHOICE_HINTS:
        raise ValueError(f"unknown prompt style {style!r}; valid: {', '.join(CODE_CHOICE_HINTS)}")
    hint = CODE_CHOICE_HINTS[style].format(about=_about(subject), letters=_letters(len(choices)))
    lines = [hint, f"Question: {question.strip()}"] + [f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)]
    return "\n".join(lines) + "\nAnswer: "


def question_text(item: dict, style: str, choice_prompt: str = "harness") -> str:
    """The user turn for one pipeline item ({question, choices?, subject?}) in a prompt style:
    "basic" (plain) or "refuse" (allows "I don't know"); MCQA in the code's or the harness's form."""
    if "choices" not in item:
        return styled(open_body(item["question"]), style)
    if choice_prompt == "code":
        return code_choice_text(item["question"], item["choices"], item.get("subject"), style)
    return styled(choice_body(item["question"], item["choices"], item.get("subject")), style)


def idk_target(kind: str, choice_prompt: str = "harness") -> str:
    return IDK_CHOICE_CODE if kind == "choice" and choice_prompt == "code" else IDK


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
    return "\n\n".join([f"{b.rstrip()} {a}" for b, a in shots] + [body])


PROMPT_STYLES = ("auto", "chat", "completion")


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def resolved_style(tokenizer, style: str = "auto") -> str:
    """"chat" or "completion": auto is chat where the tokenizer has a chat template (instruct models),
    completion where it has none (base models, which answer bare questions with junk)."""
    if style not in PROMPT_STYLES:
        raise ValueError(f"prompt style must be one of {', '.join(PROMPT_STYLES)}, got {style!r}")
    if style == "chat" and not has_chat_template(tokenizer):
        raise ValueError("prompt style 'chat' needs a chat template, and this model's tokenizer has none "
                         "(a base model): use --prompt-style completion (or auto)")
    return ("chat" if has_chat_template(tokenizer) else "completion") if style == "auto" else style


def completion(messages: list[dict]) -> str:
    """A base model's prompt: each user turn as `Question: ...` and each assistant turn as its
    `Answer: ...`, ending with an open `Answer:`."""
    parts = [f"Question: {m['content']}\nAnswer:" if m["role"] == "user" else f" {m['content']}\n\n"
             for m in messages if m["role"] in ("user", "assistant")]
    return "".join(parts)


def render_chat(tokenizer, user: str | list[dict], style: str = "auto") -> str:
    """The text a model sees for one user turn or a list of chat messages: the tokenizer's chat
    template with the assistant turn opened, or in the completion style (base models; `auto` picks
    it where there is no template) `Question: ...\nAnswer:`. Training (harness.sft) and every engine
    use this, so a tuned model is asked as it was taught."""
    messages = [{"role": "user", "content": user}] if isinstance(user, str) else list(user)
    if resolved_style(tokenizer, style) == "completion":
        return completion(messages)
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def answer_text(tokenizer, target: str, style: str = "auto") -> str:
    """A training target as it follows the prompt: after `Answer:` a space, after a chat template as is."""
    return f" {target}" if resolved_style(tokenizer, style) == "completion" else target
