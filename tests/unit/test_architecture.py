"""The rules of ARCHITECTURE.md, checked on the source with ``ast`` (nothing of llmkit is imported).

Each check prints every offender, so a failure says what to move where. The layer table ``MAY_IMPORT`` is the
one ARCHITECTURE.md quotes: change both together.
"""

from __future__ import annotations

import ast
import re
from collections import deque
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from paths import REPO

ROOT = REPO / "llmkit"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80

# ---------------------------------------------------------------------------------------------------------
# The layers (lowest first) and what each may import. A unit is a package under llmkit/ or a flat module.
BASE = {"llmkit", "errors", "outputs"}  # ``llmkit`` is the package root (``__version__``)
BLOCKS = {"data", "models", "metrics", "generation"}  # independent of one another
MAY_IMPORT: dict[str, set[str]] = {
    "llmkit": set(),
    "errors": set(),
    "outputs": {"errors"},
    "config": BASE,
    **{block: BASE | {"config"} for block in BLOCKS},
    "tasks": BASE | {"config"} | BLOCKS,
    "recipe": BASE | {"config", "tasks"} | BLOCKS,
    "train": BASE | {"config", "tasks", "recipe"} | BLOCKS,
    "export": BASE | {"config", "tasks", "recipe", "train"} | BLOCKS,
    "explain": BASE | {"config", "tasks", "recipe", "train"} | BLOCKS,
    # prune sits above export: it measures latency with the export's own protocol (samples, timing).
    "prune": BASE | {"config", "tasks", "recipe", "train", "export"} | BLOCKS,
    "cli": BASE | {"config", "tasks", "recipe", "train", "export", "explain", "prune"} | BLOCKS,
    "__main__": {"cli"},
}
# What a cli module may import at module level: ``llmkit --help`` must not pay for pydantic, torch or a task.
CLI_AT_IMPORT = {"llmkit", "errors", "cli"}

# Flat modules that stay flat (ARCHITECTURE.md: a reader sees the layers from ``ls llmkit``).
FLAT = {"__init__", "__main__", "errors", "outputs", "metrics", "generation", "recipe"}

# Private Trainer API: only llmkit/train/trainer_api.py may name it (its unit test pins what it relies on).
TRAINER_API = ROOT / "train" / "trainer_api.py"
PRIVATE_NAMES = {"_save_checkpoint", "_get_output_dir", "_get_eval_sampler", "_get_grad_norm", "_prepare_inputs"}
PRIVATE_NAMES |= {"_gen_kwargs", "accepts_loss_kwargs"}
OVERRIDDEN = {"prediction_step", "evaluation_loop"}  # public names, but overriding them relies on Trainer internals

# Task knowledge outside llmkit/tasks/: an Auto class or head kind, and the row keys a task's predictions carry.
HEAD_KIND = re.compile(r"^(Auto)?(Model)?For[A-Z]\w*$|QuestionAnswering")
ROW_KEYS = ("new_tokens", "label", "probability", "answer", "score", "question", "masks", "predictions", "scores")
KEY = "|".join(ROW_KEYS)
ROW_KEY_USE = re.compile(
    rf"""['"]({KEY})['"]\s*(in|not in)\s+row\b|row\.get\(\s*['"]({KEY})['"]|row\[['"]({KEY})['"]\]"""
)


# ---------------------------------------------------------------------------------------------------------
# Reading the source


@cache
def modules() -> dict[str, Path]:
    """``llmkit.train.run`` -> its file, for every module of the package."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


@cache
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def unit(module: str) -> str:
    """The layer unit of a module: ``llmkit.train.run`` -> ``train``, ``llmkit.errors`` -> ``errors``."""
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else "llmkit"
    return name


def outside_tasks() -> Iterator[tuple[Path, ast.Module]]:
    for path in modules().values():
        if "tasks" not in path.relative_to(ROOT).parts:
            yield path, tree(path)


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(REPO)}:{getattr(node, 'lineno', 0)}"


# ---------------------------------------------------------------------------------------------------------
# The import graph: module-level, function-level, TYPE_CHECKING and registry (importlib by name) imports


def _imported(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: count packages up from this module's package
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
    return [f"{base}.{alias.name}" for alias in node.names]


def _resolve(name: str) -> str | None:
    """The llmkit module an import name lands in (``llmkit.config.Recipe`` -> ``llmkit.config``)."""
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


def _kind(parents: list[ast.AST]) -> str:
    if any(isinstance(p, ast.If) and "TYPE_CHECKING" in ast.unparse(p.test) for p in parents):
        return "typing"
    return "function" if any(isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef)) for p in parents) else "top"


@cache
def edges() -> dict[tuple[str, str], tuple[str, str]]:
    """(importer, imported) -> (kind, where) for every import between llmkit modules; the strongest kind wins."""
    rank = {"top": 0, "function": 1, "registry": 2, "typing": 3}
    found: dict[tuple[str, str], tuple[str, str]] = {}

    def add(a: str, b: str | None, kind: str, at: str) -> None:
        if b and b != a and ((a, b) not in found or rank[kind] < rank[found[(a, b)][0]]):
            found[(a, b)] = (kind, at)

    for module, path in modules().items():
        stack: list[tuple[ast.AST, list[ast.AST]]] = [(tree(path), [])]
        while stack:
            node, parents = stack.pop()
            for child in ast.iter_child_nodes(node):
                stack.append((child, [*parents, node]))
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for name in _imported(module, path, child):
                        if name.split(".")[0] == "llmkit":
                            add(module, _resolve(name), _kind([*parents, node]), where(path, child))
        if "import_module" in path.read_text():  # registry strings that importlib loads (tasks.TASKS, shims)
            for node in ast.walk(tree(path)):
                if isinstance(node, ast.Constant) and node.value in modules():
                    add(module, node.value, "registry", where(path, node))
    return found


def cycles(kinds: set[str]) -> list[list[str]]:
    """One cycle through each strongly connected group of the graph restricted to ``kinds`` (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for (a, b), (kind, _) in edges().items():
        if kind in kinds:
            graph.setdefault(a, set()).add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while not group or group[-1] != v:
                group.append(stack.pop())
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return [_one_cycle(graph, group) for group in groups]


def _one_cycle(graph: dict[str, set[str]], group: list[str]) -> list[str]:
    """A shortest way from the group's first module back to itself, inside the group (breadth first)."""
    start, inside = group[0], set(group)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while start not in came_from:
        v = queue.popleft()
        for w in sorted(graph[v] & inside):
            if w not in came_from:
                came_from[w] = v
                queue.append(w)
    path = [start, came_from[start]]
    while path[-1] != start:
        path.append(came_from[path[-1]])
    return path[::-1]


def report(offenders: list[str]) -> str:
    return "\n".join(sorted(offenders))


# ---------------------------------------------------------------------------------------------------------
# The checks


def test_the_import_graph_sees_every_kind_of_import():
    # Guards the checks below against passing on an empty graph.
    kinds = {kind for kind, _ in edges().values()}
    assert {"top", "function", "registry", "typing"} <= kinds, kinds
    assert edges()[("llmkit.__main__", "llmkit.cli")][0] == "top"


def test_no_module_over_500_lines():
    long = []
    for path in modules().values():
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            long.append(f"{path.relative_to(REPO)}: {lines} lines")
    assert not long, f"over {MAX_MODULE_LINES} lines (split by concern):\n{report(long)}"


def test_no_function_over_80_lines():
    long = []
    for path in modules().values():
        for node in ast.walk(tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{where(path, node)} {node.name}(): {lines} lines")
    assert not long, f"over {MAX_FUNCTION_LINES} lines:\n{report(long)}"


@pytest.mark.parametrize(
    "kinds",
    [
        pytest.param({"top", "function", "registry"}, id="at-run-time"),
        pytest.param({"top", "function", "registry", "typing"}, id="with-TYPE_CHECKING"),
    ],
)
def test_no_import_cycle(kinds):
    found = [" -> ".join(cycle) for cycle in cycles(kinds)]
    assert not found, "import cycles (move the shared piece down a layer):\n" + "\n".join(found)


def test_imports_follow_the_layers():
    wrong = []
    for (a, b), (kind, at) in sorted(edges().items()):
        importer, imported = unit(a), unit(b)
        if importer not in MAY_IMPORT:
            wrong.append(f"{at} {a}: unit '{importer}' has no row in MAY_IMPORT")
        elif importer != imported and imported not in MAY_IMPORT[importer]:
            wrong.append(f"{at} {a} -> {b} ({kind}): {importer} may not import {imported}")
    assert not wrong, "imports against the layers (ARCHITECTURE.md):\n" + report(wrong)


def test_cli_imports_only_light_modules_at_import_time():
    heavy = [
        f"{at} {a} -> {b}"
        for (a, b), (kind, at) in edges().items()
        if kind == "top" and unit(a) == "cli" and unit(b) not in CLI_AT_IMPORT
    ]
    assert not heavy, "import these inside the command that needs them:\n" + report(heavy)


def test_every_module_sits_in_its_layer_package():
    flat = [str(path.relative_to(REPO)) for path in ROOT.glob("*.py") if path.stem not in FLAT]
    assert not flat, "flat modules that belong in a package:\n" + report(flat)


def _task_names() -> set[str]:
    """The modules of llmkit/tasks/ that define a ``TASK`` (the registry's names, read statically)."""
    names = set()
    for path in (ROOT / "tasks").glob("*.py"):
        for node in tree(path).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "TASK" for t in node.targets):
                names.add(path.stem)
    return names


def test_no_task_name_outside_tasks():
    names = _task_names()
    assert {"textcls", "qa", "translation"} <= names, names
    # The project hook's line pattern (comparisons, also in strings), plus any constant that is a task name.
    task = "|".join(sorted(names))
    compared = re.compile(rf"""(==|!=|\bin)\s*[\(\[{{]?\s*["']({task})["']""")
    found = []
    for path, module in outside_tasks():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if compared.search(line):
                found.append(f"{path.relative_to(REPO)}:{number} compares a task name: {line.strip()}")
        for node in ast.walk(module):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{where(path, node)} names task {node.value!r}")
    assert not found, "task facts belong in the task's TaskSpec:\n" + report(found)


def test_no_head_kind_or_auto_model_branch_outside_tasks():
    found = []
    for path, module in outside_tasks():
        for node in ast.walk(module):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if " " not in node.value and HEAD_KIND.search(node.value):
                    found.append(f"{where(path, node)} head kind {node.value!r}")
            elif isinstance(node, ast.Compare) and "auto_model" in ast.unparse(node):
                found.append(f"{where(path, node)} compares auto_model: {ast.unparse(node)}")
    assert not found, "ask the TaskSpec instead:\n" + report(found)


def test_no_prediction_row_key_branch_outside_tasks():
    found = set()  # one entry per line: nested calls match more than once
    for path, module in outside_tasks():
        lines = path.read_text().splitlines()
        for node in ast.walk(module):
            if isinstance(node, (ast.Compare, ast.Call, ast.Subscript)) and ROW_KEY_USE.search(ast.unparse(node)):
                found.add(f"{where(path, node)} {lines[node.lineno - 1].strip()}")
    assert not found, "read a task's prediction rows through its TaskSpec:\n" + report(list(found))


def _private_uses(module: ast.Module) -> Iterator[tuple[ast.AST, str]]:
    for node in ast.walk(module):
        if isinstance(node, ast.Attribute) and node.attr in PRIVATE_NAMES:
            yield node, node.attr
        elif isinstance(node, ast.Constant) and node.value in PRIVATE_NAMES:
            yield node, node.value  # getattr(trainer, "_get_grad_norm"), vars(trainer).pop(...)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in PRIVATE_NAMES | OVERRIDDEN:
            yield node, f"def {node.name}"
        elif isinstance(node, ast.Attribute) and node.attr in OVERRIDDEN and ast.unparse(node.value) == "Trainer":
            yield node, f"Trainer.{node.attr}"


def test_private_trainer_api_only_in_trainer_api():
    found = [
        f"{where(path, node)} {name}"
        for path in modules().values()
        if path != TRAINER_API
        for node, name in _private_uses(tree(path))
    ]
    assert not found, f"private Trainer API outside {TRAINER_API.relative_to(REPO)}:\n" + report(found)
