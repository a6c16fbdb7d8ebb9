"""Inference engines, one file each: the Protocol and spec (protocol.py), the literal registry and
`make_engine` (registry.py), the generation cache around any engine (cache.py), and the engines
(hf.py, vllm.py, fake.py). This file imports nothing, so no submodule's import runs another."""
