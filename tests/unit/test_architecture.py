"""The shape of the code: no import cycle (function-level imports and package __init__ modules
counted), only the registries import plugins, every method and task has what the registries read,
and the engine surface is the Protocol's."""
import ast
import inspect
from pathlib import Path

import pytest
from harness.methods import METHODS, selectors

from harness.data.prompts import STYLES
from harness.engines.protocol import Engine
from harness.engines.registry import ENGINES
from harness.knowledge import construct
from harness.method import Method

REPO = Path(__file__).resolve().parents[2]
# Source folder -> installed package (setup.py's package_dir).
PACKAGES = {"harness": "harness", "methods": "harness.methods", "tasks": "harness.tasks"}


def modules() -> dict[str, Path]:
    out = {}
    for folder, package in PACKAGES.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    return out


def imports(name: str, path: Path, known: dict) -> set[str]:
    """Every harness module that importing `name` may import, wherever the import statement is:
    the named module, or the package attribute's submodule, plus every parent package's __init__."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):           # a.b.c imports a, a.b and a.b.c
                if ".".join(parts[:i]) in known:
                    found.add(".".join(parts[:i]))
    found.discard(name)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in g:
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_function_level_and_package_imports():
    g = graph()
    assert "harness.engines.cache" in g["harness.engines.registry"]  # imported inside make_engine
    assert "harness.engines" in g["harness.engines.hf"]              # a submodule runs its package
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_only_the_registry_imports_method_plugins():
    g = graph()
    plugins = {f"harness.methods.{p.stem}" for p in (REPO / "methods").glob("*.py") if p.stem != "__init__"}
    importers = {name for name, deps in g.items() if deps & plugins and not name.startswith("harness.methods.")}
    assert importers == {"harness.methods"}


def test_every_method_is_the_contract_under_its_registry_name():
    for name, m in METHODS.items():
        assert isinstance(m, Method) and m.name == name and m.style in STYLES and m.description
        for kind in ("open", "choice"):
            stages = m.stages(kind)
            assert all(s.name for s in stages) and len({s.name for s in stages}) == len(stages)
            # asked, not inferred: the trained model is the last stage's, under the name layout gives it
            assert (m.trained_by(kind) == stages[-1].name) if m.trains else (stages == [] and m.trained_by(kind) is None)
    for name, m in selectors().items():
        assert m.table in construct.COLUMNS
        assert list(inspect.signature(m.select).parameters) == ["table", "p", "rng"]


def test_a_method_is_read_through_its_contract_never_by_getattr():
    """Every attribute a method may have is a field of harness.method.Method: the modules that read
    methods (those importing the registry or the contract) ask it, with no getattr or hasattr."""
    g = graph()
    readers = [name for name, deps in g.items() if deps & {"harness.methods", "harness.method"}]
    known = modules()
    offenders = [f"{name}:{node.lineno}" for name in readers for node in ast.walk(ast.parse(known[name].read_text()))
                 if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")]
    assert len(readers) > 5 and offenders == []


def test_modules_and_functions_stay_small():
    sizes = {name: path.read_text().count("\n") for name, path in modules().items()}
    assert max(sizes.values()) <= 400, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
    long = [f"{name}.{node.name} ({node.end_lineno - node.lineno + 1} lines)" for name, path in modules().items()
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60]
    assert long == []


def test_every_task_folder_is_a_task_with_metadata():
    from harness.data.load import datasets
    from harness.scoring.evaluate import tasks
    folders = {p.parent.name for p in (REPO / "tasks").glob("*/*.yaml")}
    assert set(tasks()) == folders
    for name, info in tasks().items():
        assert info.lm_eval_name == f"rait_{name}" and info.kind in ("open", "choice")
        assert datasets()[info.dataset].task == name and info.split in datasets()[info.dataset].splits


@pytest.mark.parametrize("kind", list(ENGINES))
def test_engines_offer_the_protocol(kind):
    import importlib
    entry = ENGINES[kind]
    if kind == "vllm":
        pytest.importorskip("vllm")
    if kind == "hf":
        pytest.importorskip("torch")
    module = importlib.import_module(entry.module)
    cls = inspect.signature(module.load).return_annotation
    cls = getattr(module, cls) if isinstance(cls, str) else cls
    wanted = {n for n in dir(Engine) if not n.startswith("_")} - {"spec"}
    assert wanted <= set(dir(cls)), wanted - set(dir(cls))
