"""The engine's architecture, checked on the source: no UI imports, no import cycles, and every import points
down the layer order (a layer may use itself and the layers below it, never one above).

  engine.paths, engine.messages   where things live; what the studio says
  engine.config                   the run config and its field rules
  engine.data                     datasets: registry, reading, formats, checking, encoding
  engine.models                   loading, the built-in model, templates, fine-tuning types, shapes
  engine.use                      chat, generation, scoring a model
  engine.train                    stages, the shared Trainer set-up, validation of a run, memory estimate
  engine.benchmarks               lm-evaluation-harness tasks on a run and its base; judges over OpenAI's API
  engine.runs                     run folders, status, events, the queue, the worker process, preflight
  engine.export                   merged models, GGUF, model cards
  engine.serve                    an OpenAI-compatible API over what use and models load
  engine.cli, engine.__main__     the command line
Imports inside functions count too: a lazy import is still a dependency.
"""
import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "engine"
LAYERS = [
    ("engine.paths", "engine.messages"),
    ("engine.config",),
    ("engine.data",),
    ("engine.models",),
    ("engine.use",),
    ("engine.train",),
    ("engine.benchmarks",),
    ("engine.runs",),
    ("engine.export",),
    ("engine.serve",),
    ("engine.cli", "engine.__main__"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ENGINE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, absolute, with `from x import y` counted as x.y when x.y is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if _is_module(f"{base}.{alias.name}"))
    return found


def _is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (ENGINE.parent / relative).with_suffix(".py").exists() or (
        ENGINE.parent / relative / "__init__.py"
    ).exists()


def layer_of(module: str) -> int | None:
    for index, names in enumerate(LAYERS):
        if any(module == name or module.startswith(name + ".") for name in names):
            return index
    return None


SOURCES = sorted(ENGINE.rglob("*.py"))
GRAPH = {module_name(path): {m for m in imported_modules(path) if m.startswith("engine")} for path in SOURCES}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ENGINE.parent)))
def test_the_engine_never_imports_the_ui(path):
    ui = [m for m in imported_modules(path) if m.split(".")[0] in ("gradio", "webui")]
    assert not ui, f"{path} imports {ui}: the engine must run without the UI"


def test_every_engine_module_has_a_layer():
    assert [m for m in GRAPH if m != "engine" and layer_of(m) is None] == []


def test_imports_point_down_the_layers():
    upward = sorted(
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in GRAPH.items()
        if module != "engine"
        for target in targets
        if target != "engine" and layer_of(target) > layer_of(module)
    )
    assert upward == []


def test_no_import_cycles():
    modules = {m: {t for t in targets if t in GRAPH and t != m} for m, targets in GRAPH.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles = []

    def visit(module, path):
        state[module] = 1
        for target in sorted(modules[module]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target) :] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(modules):
        if module not in state:
            visit(module, [module])
    assert cycles == []
