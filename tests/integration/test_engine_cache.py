"""The HF engine behind the generation cache (make_engine wraps it), on the real tiny model."""
import pytest

from harness.engines.hf import HFEngine
from harness.engines.protocol import EngineSpec
from harness.engines.registry import make_engine

pytestmark = pytest.mark.integration

QUESTIONS = ["Who wrote Hamlet?", "What is the capital of France?", "Which planet is known as the red planet?"]


def engine(base, tmp_path, batch_size):
    return make_engine("hf", EngineSpec(model=base, dtype="float32", batch_size=batch_size,
                                        cache=str(tmp_path / "gen.sqlite")))


def test_cached_answers_are_reused_whatever_the_batch_size(base, tmp_path, monkeypatch):
    first = engine(base, tmp_path, batch_size=6)
    prompts = [first.apply_template(q) for q in QUESTIONS]
    sampled = first.generate(prompts, n=3, temperature=0.7, max_new_tokens=8, seed=1)
    greedy = first.generate(prompts, n=1, max_new_tokens=8)
    assert all(len(s) == 3 for s in sampled) and first.cache.misses == 2 * len(prompts)
    first.close()

    again = engine(base, tmp_path, batch_size=3)
    monkeypatch.setattr(again.engine, "_generate_batch", lambda *a: pytest.fail("generated a cached answer"))
    assert again.generate(prompts, n=3, temperature=0.7, max_new_tokens=8, seed=1) == sampled
    assert again.generate(prompts, n=2, max_new_tokens=8) == [g * 2 for g in greedy]
    assert again.cache.hits == 2 * len(prompts)


def test_a_new_seed_or_length_is_generated(base, tmp_path):
    e = engine(base, tmp_path, batch_size=6)
    prompts = [e.apply_template(q) for q in QUESTIONS[:1]]
    a = e.generate(prompts, n=4, temperature=1.0, max_new_tokens=8, seed=0)
    b = e.generate(prompts, n=4, temperature=1.0, max_new_tokens=8, seed=5)
    assert e.cache.misses == 2 and a != b


def test_shared_prefill_matches_plain_sampling(base, tmp_path):
    """n samples from one prompt encoding equal n samples from n separate encodings (fp32)."""
    e = HFEngine(EngineSpec(model=base, dtype="float32", batch_size=8))
    prompts = [e.apply_template(q) for q in QUESTIONS[:2]]
    shared = e._generate_batch(prompts, 3, 0.7, 8, 0)
    copies = [p for p in prompts for _ in range(3)]
    from harness.engines import hf
    seeds = [hf.sample_seed(0, p, k) for p in prompts for k in range(3)]
    enc = e._encode(copies)
    gen = e.model.generate(**enc, max_new_tokens=8, pad_token_id=e.tok.pad_token_id, do_sample=False,
                           temperature=None, top_p=None, top_k=None, logits_processor=hf.LogitsProcessorList(
                               [hf.SeededSampler(seeds, 0.7, enc["input_ids"].shape[1], 8)]))
    plain = e.tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert shared == plain


@pytest.mark.slow           # a minute of generation on 2 cores: make test-slow (CI)
def test_stop_strings_end_sequences_without_changing_what_callers_keep(base, data_dir):
    """Greedy evaluation answers cut at "\\n\\n" and sampled answers cut at their stops are the same
    with and without stopping at the stop strings (per sequence, in a mixed batch)."""
    from harness.data.load import load_items
    from harness.data.prompts import SHOT_INSTRUCTION, open_fewshot, question_text
    from harness.scoring.evaluate import _truncate
    e = HFEngine(EngineSpec(model=base, dtype="float32", batch_size=8))
    items = load_items("triviaqa", "train", data_dir)[:6]
    prompts = [e.apply_template(question_text(it, "basic")) for it in items]
    plain = e.generate(prompts, max_new_tokens=24)
    stopped = e.generate(prompts, max_new_tokens=24, stop=["\n\n"])
    assert [_truncate(a[0], ["\n\n"]) for a in plain] == [_truncate(a[0], ["\n\n"]) for a in stopped]
    shots = [e.apply_template(open_fewshot(it["question"], multiturn=False)) for it in items]
    kw = dict(n=2, temperature=1.0, max_new_tokens=40, seed=3)
    stop = ["\n", SHOT_INSTRUCTION]
    whole = [[_truncate(s, stop) for s in per] for per in e.generate(shots, **kw)]
    cut = e.generate(shots, stop=stop, **kw)
    assert whole == [[_truncate(s, stop) for s in per] for per in cut]
