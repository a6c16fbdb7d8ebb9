"""The run config and its identity (harness.run.config)."""


def test_model_name_and_prompt_style_stay_out_of_the_run_hash_unless_they_change_prompts():
    from harness.run.config import RunConfig
    from harness.run.presets import PRESETS
    from harness.run.stage import config_hash
    base = RunConfig(model="m", preset=PRESETS["tiny"])
    assert config_hash(base) == config_hash(RunConfig(model="m", preset=PRESETS["tiny"], model_name="My model"))
    assert config_hash(base) != config_hash(RunConfig(model="m", preset=PRESETS["tiny"], prompt_style="completion"))
    assert RunConfig(model="m/x", preset=PRESETS["tiny"], model_name="X").label == "X"
