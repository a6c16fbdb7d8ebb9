"""Rich progress bars for long stages (generation, scoring, training); the libraries' own bars quieted."""
from __future__ import annotations

from typing import Iterable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.run.faults import failpoint


def progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), transient=True)


def over_batches(batches: Iterable[list[int]], total: int, desc: str | None) -> Iterator[list[int]]:
    """Each batch of prompt indices, advancing a bar of `total` prompts after it; no bar when desc is
    None (the caller shows its own)."""
    if desc is None:
        yield from batches
        return
    with progress() as bar:
        task = bar.add_task(desc, total=total)
        for idx in batches:
            yield idx
            bar.advance(task, len(idx))


def trainer_callback():
    """A transformers TrainerCallback that shows optimisation steps and the last logged loss."""
    from transformers import TrainerCallback

    class RichProgress(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = progress() if state.is_world_process_zero else None
            if self.bar:
                self.bar.start()
                self.task = self.bar.add_task("sft", total=state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            if self.bar:
                self.bar.update(self.task, completed=state.global_step)

        def on_save(self, args, state, control, **kwargs):
            failpoint("sft-save")               # a checkpoint is on disk

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.bar and logs and "loss" in logs:
                self.bar.update(self.task, description=f"sft loss {logs['loss']:.3f}")

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar:
                self.bar.stop()

    return RichProgress()


def quiet_libraries() -> None:
    """Our rich progress bars say what runs; the libraries' own bars and notices only add noise."""
    import logging
    import os
    import warnings
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*pin_memory.*")
    for name in ("lm-eval", "lm_eval", "sentence_transformers", "datasets"):
        logging.getLogger(name).setLevel(logging.ERROR)
