"""The code's shape: docs/design.md's Layout matches the tree, arrows point one way, and nothing imports in a circle."""

import ast
import re
from pathlib import Path

from webapp.flask_config import PROJECT_ROOT

DESIGN = PROJECT_ROOT / "docs" / "design.md"
PACKAGES = ("webapp", "workers")
# Each layer may import only the layers listed for it (and itself). Lower layers never reach up.
MAY_IMPORT = {
    "wsgi": {"webapp", "webapp.web", "webapp.commands", "webapp.plumbing", "webapp.base", "workers"},
    "webapp": {"webapp.web", "webapp.commands", "webapp.domain", "webapp.models", "webapp.plumbing", "webapp.base"},
    "workers": {"webapp.domain", "webapp.models", "webapp.plumbing", "webapp.base"},
    "webapp.web": {"webapp.domain", "webapp.models", "webapp.plumbing", "webapp.base"},
    "webapp.commands": {"webapp.domain", "webapp.models", "webapp.plumbing", "webapp.base"},
    "webapp.domain": {"webapp.models", "webapp.plumbing", "webapp.base"},
    "webapp.plumbing": {"webapp.base"},
    "webapp.models": {"webapp.base"},
    "webapp.base": {"webapp.models"},  # settings reads the channel names and enums, which touch no database
}
BASE = {"webapp.settings", "webapp.flask_config", "webapp.extensions"}


def module_files() -> dict[str, Path]:
    """Every module of Bellhop's code by dotted name, packages by their own name."""
    found = {"wsgi": PROJECT_ROOT / "wsgi.py"}
    for package in PACKAGES:
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = module_files()


def imports_of(path: Path) -> list[tuple[str, bool]]:
    """(Bellhop module imported, whether the import sits inside a function) for each import in a file."""
    tree = ast.parse(path.read_text())
    nested = {id(node) for func in ast.walk(tree) if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef)
              for node in ast.walk(func) if isinstance(node, ast.Import | ast.ImportFrom)}  # fmt: skip
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module for a in node.names
            ]
        found += [(name, id(node) in nested) for name in names if name in MODULES]
    return found


GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def layer(module: str) -> str:
    """The layer a module belongs to."""
    if module in BASE:
        return "webapp.base"
    for prefix in ("webapp.web", "webapp.commands", "webapp.domain", "webapp.plumbing", "webapp.models", "workers"):
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    return module


def test_every_import_points_down_the_layers():
    upward = [
        f"{module} -> {imported}"
        for module, imports in GRAPH.items()
        for imported, _ in imports
        if layer(imported) != layer(module) and layer(imported) not in MAY_IMPORT[layer(module)]
    ]
    assert upward == []


def test_no_module_imports_inside_a_function():
    hidden = [f"{module} -> {imported}" for module, imports in GRAPH.items() for imported, inside in imports if inside]
    assert hidden == []


def test_no_modules_import_each_other_in_a_circle():
    circles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported, _ in GRAPH[module]:
            if state.get(imported) == "open":
                circles.append(path[path.index(imported) :] + [imported])
            elif imported not in state:
                visit(imported, path + [imported])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert circles == []


def documented_tree() -> set[str]:
    """The paths the Layout section of docs/design.md lists, one entry per line, nested by two spaces."""
    text = DESIGN.read_text()
    section = text[text.index("\n## Layout\n") :]
    block = section[section.index("```\n") + 4 : section.index("\n```", section.index("```\n") + 4)]
    paths, parents = set(), []
    for line in block.splitlines():
        entry = re.match(r"( *)(\S+)", line)
        depth = len(entry.group(1)) // 2
        parents = parents[:depth] + [entry.group(2)]
        paths.add("".join(parents))
    return paths


def code_tree() -> set[str]:
    """wsgi.py, and every module and package folder under webapp/ and workers/."""
    paths = {"wsgi.py"}
    for package in PACKAGES:
        paths.add(f"{package}/")
        for path in (PROJECT_ROOT / package).rglob("*"):
            relative = path.relative_to(PROJECT_ROOT).as_posix()
            if path.is_dir() and (path / "__init__.py").exists():
                paths.add(relative + "/")
            elif path.suffix == ".py" and path.name != "__init__.py":
                paths.add(relative)
    return paths


def test_the_layout_in_the_design_doc_lists_every_module_and_no_other():
    documented = {path for path in documented_tree() if path.startswith(("wsgi", "webapp/", "workers/"))}
    code = code_tree()
    assert sorted(code - documented) == [], "in the code, missing from docs/design.md's Layout"
    assert sorted(documented - code) == [], "in docs/design.md's Layout, gone from the code"
