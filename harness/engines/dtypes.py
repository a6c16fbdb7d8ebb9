"""The dtype a run asks for: `auto` is bfloat16 where the hardware computes in it, else what it does.

A CPU without native bfloat16 (no AVX512-BF16 or AMX-BF16 on x86, no BF16 on Arm) emulates it: the
tiny bench took 694 s in bfloat16 against 62 s in float32 with oneDNN held to AVX2 (43 s in bfloat16
with AMX), so `auto` takes float32 there. The run's identity holds the resolved dtype, so a run
asked as `auto` on a bfloat16 machine is the run asked as bfloat16.
"""
from __future__ import annotations

import os
from pathlib import Path

DTYPES = ("bfloat16", "float32", "float16")
CHOICES = ("auto", *DTYPES)
# oneDNN's ISA caps (ONEDNN_MAX_CPU_ISA) that keep its bfloat16 kernels
_BF16_ISAS = {"AVX512_CORE_BF16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512",
              "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "AVX10_2_512", "AVX10_2_512_AMX_2", "ALL", "DEFAULT"}


def cpu_has_bf16(cpuinfo: str | None = None, isa_cap: str | None = None) -> bool:
    """Whether this CPU computes bfloat16 natively: its flags (/proc/cpuinfo) name AVX512-BF16,
    AMX-BF16 or Arm's BF16, and ONEDNN_MAX_CPU_ISA, when set, does not hold oneDNN below them."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text(errors="replace") if path.exists() else ""
    flags = {word for line in cpuinfo.splitlines() if line.split(":")[0].strip() in ("flags", "Features")
             for word in line.partition(":")[2].split()}
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") if isa_cap is None else isa_cap) or "ALL"
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"}) and cap.upper() in _BF16_ISAS


def resolve_dtype(dtype: str, device: str | None = None) -> str:
    """`dtype` itself, or for `auto` the one for `device` (cuda or cpu; default: this machine's):
    bfloat16 where native, else float16 on a GPU and float32 on a CPU."""
    if dtype not in CHOICES:
        raise ValueError(f"dtype must be one of {', '.join(CHOICES)}, got {dtype!r}")
    if dtype != "auto":
        return dtype
    import torch
    if (device or ("cuda" if torch.cuda.is_available() else "cpu")) == "cpu":
        return "bfloat16" if cpu_has_bf16() else "float32"
    # a GPU here, or the cluster's (a Slurm driver on a host without one: assume bf16)
    return "bfloat16" if not torch.cuda.is_available() or torch.cuda.is_bf16_supported() else "float16"
