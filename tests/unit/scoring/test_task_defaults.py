"""One source for a task's options: every task function, called as lm-eval alone calls it (no
options), prompts and scores as a harness run binds it (harness.scoring.evaluate.task_options with the run's
Scoring), on real rows and hand-made answers."""
import itertools

import pytest
from harness.tasks import DEFAULT, module

from harness.data.load import load_rows
from harness.run.config import Scoring
from harness.run.presets import PRESETS
from harness.scoring.evaluate import task_options, tasks

ANSWERS = ["I don't know", "I'm not sure, York", "A", "B. because", "The answer is C", "", "Answer: D",
           "It is not known.", "I apologize, but I'm not able to provide an answer to the question.",
           "42", "$1,200.50", "Sorry, I cannot help with that.", "Paris", "Yorkshire", "none of them"]


def test_the_task_defaults_are_a_harness_runs_scoring():
    assert DEFAULT == Scoring()
    # the presets a bench runs keep the scorers of those defaults (MMLU's average aside)
    for name in ("smoke", "small", "paper"):
        s = PRESETS[name].scoring
        assert (s.correctness, s.refusal, s.choice_prompt, s.unparsed, s.nq_question_mark) == \
            (DEFAULT.correctness, DEFAULT.refusal, DEFAULT.choice_prompt, DEFAULT.unparsed, DEFAULT.nq_question_mark)


@pytest.mark.parametrize("task", sorted(tasks()))
def test_lm_eval_alone_gives_the_harness_runs_prompts_and_classes(task, data_dir):
    info, utils = tasks()[task], module(task)
    rows = load_rows(info.dataset, info.split, data_dir)[:6]
    opts = task_options("basic", Scoring())
    for doc, answer in itertools.product(rows, ANSWERS):
        assert utils.doc_to_text(doc) == utils.doc_to_text(doc, **opts)
        assert utils.process_results(doc, [answer]) == utils.process_results(doc, [answer], **opts), (doc, answer)
