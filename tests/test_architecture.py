"""The package's layers (docs/architecture.md): every import points down, never up or sideways,
and no two modules import each other. Read from the source with `ast`, so a new upward import
fails here before anyone runs into the cycle it makes."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import outlier_exposure

PACKAGE = "outlier_exposure"
SOURCE = Path(outlier_exposure.__file__).resolve().parent

# Lowest first. A module may import from its own part and from lower layers; the parts that
# share a layer are independent of each other.
LAYERS: list[tuple[str, ...]] = [
    ("_version", "errors"),                 # leaves every layer may use
    ("scores", "metrics"),                  # pure maths on tensors and arrays
    ("losses",),                            # (the energy loss shapes the energy score)
    ("models", "data"),
    ("training",),
    ("evaluation",),
    ("calibration", "text"),
    ("reporting", "deploy"),
    ("experiments",),
    ("commands",),                          # the command line: nothing imports it
    ("cli",),
]
PART_LAYER = {part: level for level, parts in enumerate(LAYERS) for part in parts}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def part_of(module: str) -> str | None:
    """'outlier_exposure.data.spec' -> 'data'; the package root itself -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute module) for every import of the package in `path`, at any depth."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from .training import runs` imports the module training.runs
            found += [(node.lineno, f"{target}.{alias.name}") if
                      _is_module(f"{target}.{alias.name}") else (node.lineno, target)
                      for alias in node.names]
    return [(line, name) for line, name in found
            if name == PACKAGE or name.startswith(PACKAGE + ".")]


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:]) if "." in name else Path()
    return (SOURCE / rel).with_suffix(".py").is_file() or (SOURCE / rel / "__init__.py").is_file()


def all_sources() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SOURCE.rglob("*.py"))}


def layer_violations(sources: dict[str, Path]) -> list[str]:
    problems = []
    for module, path in sources.items():
        part = part_of(module)
        if part is None:
            continue  # the root __init__: checked by test_root_package_is_lazy
        if part not in PART_LAYER:
            problems.append(f"{module}: not in any layer of tests/test_architecture.py LAYERS")
            continue
        for line, target in imported_modules(path, module):
            other = part_of(target)
            if other is None:
                problems.append(f"{path.name}:{line} {module} imports the package root "
                                f"(import the module that defines the name)")
            elif other != part and PART_LAYER.get(other, -1) >= PART_LAYER[part]:
                problems.append(f"{path.name}:{line} {module} imports {target}: "
                                f"{part} (layer {PART_LAYER[part]}) may not import {other} "
                                f"(layer {PART_LAYER.get(other)})")
    return problems


def import_cycles(sources: dict[str, Path]) -> list[list[str]]:
    """Strongly connected groups of modules that import each other (any import, any depth)."""
    graph = {m: {t for _, t in imported_modules(p, m) if t in sources and t != m}
             for m, p in sources.items() if part_of(m) is not None}
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def test_every_import_points_down_the_layers():
    assert layer_violations(all_sources()) == []


def test_no_modules_import_each_other():
    assert import_cycles(all_sources()) == []


def test_the_check_catches_an_upward_import(tmp_path):
    """The check itself can fail: a data module that imports training is reported."""
    sources = all_sources()
    bad = tmp_path / "spec.py"
    bad.write_text(sources[f"{PACKAGE}.data.spec"].read_text()
                   + "\nfrom ..training.runs import CONFIG\n")
    sources[f"{PACKAGE}.data.spec"] = bad
    problems = set(layer_violations(sources)) - set(layer_violations(all_sources()))
    assert len(problems) == 1 and "data (layer 3) may not import training" in problems.pop()


def test_the_check_catches_a_cycle(tmp_path):
    sources = all_sources()
    bad = tmp_path / "scores.py"
    bad.write_text(sources[f"{PACKAGE}.scores"].read_text() + "\nfrom .losses import oe_loss\n")
    sources[f"{PACKAGE}.scores"] = bad  # losses imports scores already
    assert [f"{PACKAGE}.losses", f"{PACKAGE}.scores"] in import_cycles(sources)


def test_root_package_holds_only_the_listed_modules():
    """The package root: the public API, the version, the command line, the maths, and the
    one error type every layer raises; everything else lives in a subpackage."""
    root = {p.stem for p in SOURCE.glob("*.py")}
    assert root == {"__init__", "_version", "cli", "losses", "scores", "metrics", "errors"}


@pytest.mark.parametrize("code", [
    "import outlier_exposure, sys; assert 'torch' not in sys.modules, 'import loads torch'",
    "import sys; from outlier_exposure.cli import main\n"
    "try: main(['--help'])\nexcept SystemExit: pass\n"
    "assert 'torch' not in sys.modules, 'oe --help loads torch'",
])
def test_root_package_and_help_do_not_import_torch(code):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_public_api_resolves():
    for name in outlier_exposure.__all__:
        assert getattr(outlier_exposure, name) is not None
