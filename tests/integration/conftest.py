"""The integration tests' shared run: every method's real pipeline on the real tiny model and data
(tiny preset, triviaqa and mmlu), built once per test session for the tests that read it."""
import pytest

from harness.bench import bench
from harness.run.config import RunConfig
from harness.run.presets import PRESETS


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, data_dir):
    """(OUT, its run directory, the leaderboard rows) of `bench --methods all --tasks triviaqa,mmlu
    --preset tiny`; a test that adds to it (another seed, fewer questions) keeps what is there."""
    out = tmp_path_factory.mktemp("tiny-run")
    cfg = RunConfig(model="smollm2-135m", preset=PRESETS["tiny"], data_dir=str(data_dir), batch_size=8)
    rows = bench(cfg, ["all"], ["triviaqa", "mmlu"], out)
    return out, next((out / "runs").iterdir()), rows
