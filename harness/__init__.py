"""Benchmark harness for refusal-aware instruction tuning (CRaFT and baselines)."""
__version__ = "0.3.0"
