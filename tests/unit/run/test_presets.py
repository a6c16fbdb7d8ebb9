"""The presets and YAML overrides (harness.run.presets)."""


def test_yaml_preset_can_override_every_new_field(tmp_path):
    from harness.run.presets import load_preset
    path = tmp_path / "p.yaml"
    path.write_text("base: paper\nscoring: {refusal: broad, unparsed: wrong}\n"
                    "choice: {sft: {load_in_4bit: false, target_modules: [q_proj]}, draw_with_replacement: false}\n"
                    "open: {pool_size: 100, query_answer: first_line}\n")
    p = load_preset(str(path))
    assert (p.scoring.refusal, p.scoring.unparsed, p.scoring.correctness) == ("broad", "wrong", "substring")
    assert (p.choice.sft.load_in_4bit, p.choice.sft.target_modules, p.choice.draw_with_replacement) == (
        False, ("q_proj",), False)
    assert (p.open.pool_size, p.open.query_answer, p.open.sft.mode) == (100, "first_line", "full")
