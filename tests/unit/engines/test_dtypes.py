"""`--dtype auto` (harness.engines.dtypes): bfloat16 only where the hardware computes in it."""
import pytest

from harness.engines.dtypes import cpu_has_bf16, resolve_dtype
from harness.run.config import RunConfig
from harness.run.presets import PRESETS
from harness.run.stage import config_hash

SAPPHIRE = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
SKYLAKE = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512bw avx512vl\n"
GRAVITON3 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"


def test_native_bf16_is_read_from_the_cpu_flags():
    assert cpu_has_bf16(SAPPHIRE, isa_cap="")
    assert cpu_has_bf16(GRAVITON3, isa_cap="")
    assert not cpu_has_bf16(SKYLAKE, isa_cap="")
    assert not cpu_has_bf16("", isa_cap="")                    # no /proc/cpuinfo: no claim of bf16


def test_onednn_held_below_bf16_is_no_native_bf16():
    assert not cpu_has_bf16(SAPPHIRE, isa_cap="AVX2")
    assert not cpu_has_bf16(SAPPHIRE, isa_cap="avx512_core")
    assert cpu_has_bf16(SAPPHIRE, isa_cap="AVX512_CORE_AMX")


def test_auto_takes_float32_on_a_cpu_without_bf16(monkeypatch):
    monkeypatch.setattr("harness.engines.dtypes.cpu_has_bf16", lambda: False)
    assert resolve_dtype("auto", "cpu") == "float32"
    monkeypatch.setattr("harness.engines.dtypes.cpu_has_bf16", lambda: True)
    assert resolve_dtype("auto", "cpu") == "bfloat16"
    assert resolve_dtype("float16", "cpu") == "float16"        # asked for: kept
    with pytest.raises(ValueError, match="auto, bfloat16, float32, float16.*'fp8'"):
        resolve_dtype("fp8")


def test_the_identity_holds_the_resolved_dtype(monkeypatch):
    """A run asked as auto on a bf16 machine is the run asked as bfloat16 (earlier runs keep their
    directory); on a machine without, it is the float32 run."""
    for native, same_as in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr("harness.engines.dtypes.cpu_has_bf16", lambda native=native: native)
        monkeypatch.setattr("torch.cuda.is_available", lambda: False)
        auto = RunConfig(model="m", preset=PRESETS["tiny"])
        assert auto.dtype == same_as and "auto" not in str(auto.identity())
        assert config_hash(auto) == config_hash(RunConfig(model="m", preset=PRESETS["tiny"], dtype=same_as))
