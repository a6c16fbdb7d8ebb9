"""GPU check: the harness's own CUDA paths, timed, with peak GPU memory (`python ci/gpu_check.py OUT.json`).

No model can be downloaded on the lent GPU machines and SmolLM2's weights are too large to carry, so
the models here have real architectures and tokenizers but random weights (the speed of a layer
does not depend on its values; the answers are junk and are not scored):

1. SmolLM2-135M (its config and tokenizer from MODEL_DIR): the HF engine on CUDA (greedy answers,
   seeded samples n=6 as the knowledge query draws them, option log-probabilities, hidden states);
   LoRA and full SFT in bf16 autocast (harness.training.sft.train); DPO with TRL from the LoRA model
   (harness.training.dpo.train); the engine again on the LoRA adapter and on the DPO model.
2. An 8B model of Llama-3-8B's shape (32 layers, hidden 4096, MLP 14336, 32/8 heads; the SmolLM2
   vocabulary): LoRA SFT on all linear layers, packed 2,048-token sequences, as the `paper` preset's
   MCQA LoRA without 4-bit (bitsandbytes is not on these machines), weights in fp32 with bf16
   autocast (what the pipeline does), then with bf16 weights: peak memory and seconds per step.
Each part records its error instead of stopping the script, so one failure leaves the others' figures.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

import torch

MODEL_DIR = Path(os.environ.get("GPU_CHECK_MODEL", ".gpu/smollm2"))
WORK = Path(os.environ.get("GPU_CHECK_WORK", "/tmp/gpu_check"))
results: dict = {}
OUT_FILE = Path("gpu_check.json")      # rewritten after every part: a run stopped at its limit keeps what it measured
CUDA = torch.cuda.is_available()       # without one (GPU_CHECK_CPU=1) the small parts run on CPU: a dry run
N = 256 if CUDA else 16                # questions of the small parts (a sixteenth in the dry run)


def _peak() -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if CUDA else None


def _reset() -> None:
    import gc
    gc.collect()
    if CUDA:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def part(name):
    def wrap(fn):
        _reset()
        start = time.time()
        try:
            results[name] = {"ok": True, **(fn() or {})}
        except Exception as err:  # keep the other parts' figures
            results[name] = {"ok": False, "error": f"{type(err).__name__}: {err}",
                             "trace": traceback.format_exc()[-3000:]}
        results[name]["seconds"] = round(time.time() - start, 2)
        results[name]["peak_gpu_gib"] = _peak()
        print(name, json.dumps({k: v for k, v in results[name].items() if k != "trace"}), flush=True)
        OUT_FILE.write_text(json.dumps(results, indent=2))
        return fn
    return wrap


def random_model(config, out: Path, dtype=torch.float32) -> tuple[Path, int]:
    """Random weights of the config's architecture, saved with the tokenizer; (directory, parameters)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    torch.manual_seed(0)
    with torch.device("cuda" if CUDA else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    count = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(MODEL_DIR).save_pretrained(out)
    del model
    return out, count


def questions(n: int) -> list[str]:
    return [f"What is the capital of country number {i}?" for i in range(n)]


def main(out_file: str) -> None:
    import peft
    import transformers
    import trl
    from transformers import AutoConfig

    from harness.run.config import SFTConfig
    from harness.engines.hf import HFEngine
    from harness.engines.protocol import EngineSpec
    results["env"] = {"gpu": torch.cuda.get_device_name(0) if CUDA else "cpu (dry run)", "torch": torch.__version__, "cuda": torch.version.cuda,
                      "transformers": transformers.__version__, "peft": peft.__version__, "trl": trl.__version__,
                      "bf16": CUDA and torch.cuda.is_bf16_supported()}
    print("env", json.dumps(results["env"]), flush=True)
    WORK.mkdir(parents=True, exist_ok=True)
    small, _ = random_model(AutoConfig.from_pretrained(MODEL_DIR), WORK / "smollm2-random")
    rows = [{"prompt": q, "target": f"City {i}"} for i, q in enumerate(questions(N))]

    @part("engine_base")
    def _():
        eng = HFEngine(EngineSpec(model=str(small), batch_size=64))
        prompts = [eng.apply_template(q) for q in questions(N)]
        t = time.time()
        greedy = eng.generate(prompts, n=1, temperature=0.0, max_new_tokens=32, seed=0)
        t_greedy = time.time() - t
        t = time.time()
        samples = eng.generate(prompts[:N // 2], n=6, temperature=1.0, max_new_tokens=32, seed=0)
        t_samples = time.time() - t
        again = eng.generate(prompts[:N // 2], n=6, temperature=1.0, max_new_tokens=32, seed=0)
        # the first prompts alone, in a smaller batch: bf16 kernels differ with the batch's shape on a GPU
        alone = eng.generate(prompts[:4], n=6, temperature=1.0, max_new_tokens=32, seed=0)
        lp = eng.option_logprobs(prompts[:N // 4], list("ABCD"))
        hidden = eng.hidden_states(prompts[:16])
        return {"device": str(next(eng.model.parameters()).device), "dtype": str(next(eng.model.parameters()).dtype),
                "greedy_prompts_per_s": round(N / t_greedy, 1), "samples_prompts_per_s": round(N / 2 / t_samples, 1),
                "seeded_samples_reproduce": again == samples,
                "same_samples_in_a_smaller_batch": alone == samples[:4], "greedy_answers": len(greedy),
                "option_logprobs_shape": [len(lp), len(lp[0])], "hidden_size": len(hidden[0])}

    @part("sft_lora_bf16")
    def _():
        from harness.training.sft import train
        cfg = SFTConfig(mode="lora", epochs=1, lr=2e-4, batch_size=8, target_modules=("all-linear",), max_length=256)
        return train(str(small), rows, cfg, WORK / "lora", seed=0, bf16=True)

    @part("sft_full_bf16")
    def _():
        from harness.training.sft import train
        cfg = SFTConfig(mode="full", epochs=1, lr=8e-6, batch_size=8, max_length=256, packing=True)
        return train(str(small), rows, cfg, WORK / "full", seed=0, bf16=True)

    @part("dpo_lora_from_lora")
    def _():
        from harness.training.dpo import Preference, train
        pairs = [{**r, "rejected": "This question is beyond the scope of my knowledge."} for r in rows[:N // 2]]
        cfg = SFTConfig(mode="lora", epochs=1, lr=5e-5, batch_size=8, max_length=256)
        return train(str(small), pairs, cfg, Preference(0.1, 0.01), WORK / "dpo",
                     start={"adapter": str(WORK / "lora" / "model")}, seed=0, bf16=True)

    @part("engine_tuned")
    def _():
        out = {}
        for name, spec in (("lora_adapter", EngineSpec(model=str(small), adapter=str(WORK / "lora" / "model"))),
                           ("dpo_full_model", EngineSpec(model=str(WORK / "dpo" / "model")))):
            eng = HFEngine(spec)
            answers = eng.generate([eng.apply_template(q) for q in questions(8)], max_new_tokens=8, seed=0)
            out[name] = {"answers": len(answers), "device": str(next(eng.model.parameters()).device)}
            del eng
        return out

    if not CUDA:
        Path(out_file).write_text(json.dumps(results, indent=2))
        return

    big: dict = {}

    @part("llama8b_build")
    def _():
        from transformers import LlamaConfig
        config = LlamaConfig(vocab_size=49152, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                             num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192,
                             rope_theta=500000.0, tie_word_embeddings=False)
        big["dir"], count = random_model(config, WORK / "llama8b", dtype=torch.bfloat16)
        return {"parameters_billion": round(count / 1e9, 2)}

    long_rows = [{"prompt": " ".join(questions(12)), "target": "City"} for _ in range(512)]
    for dtype in ("bfloat16", "float32"):          # weights; bf16 autocast either way (the pipeline: float32)
        @part(f"llama8b_lora_sft_{dtype}_weights")
        def _():
            from harness.training.sft import train
            cfg = SFTConfig(mode="lora", epochs=1, lr=2e-4, batch_size=4, grad_accum=1, lora_r=64, lora_alpha=16,
                            target_modules=("all-linear",), max_length=2048, packing=True)
            report = train(str(big["dir"]), long_rows, cfg, WORK / f"llama8b-{dtype}", seed=0, dtype=dtype, bf16=True)
            return {k: report[k] for k in ("steps", "sequences", "train_seconds", "train_loss")}

    Path(out_file).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    if not CUDA and not os.environ.get("GPU_CHECK_CPU"):
        sys.exit("no CUDA device: this check runs on a GPU machine (GPU_CHECK_CPU=1: the small parts on CPU)")
    OUT_FILE = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_FILE
    main(str(OUT_FILE))
