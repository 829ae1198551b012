"""The house rules of docs/design.md, read from the source: rooms import only what they may, no circle
(lazy imports included), a face with ``__all__`` per room, matplotlib only in plot modules."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "napari_graintrace"
CORE = PACKAGE / "core"
DOCS = Path(__file__).resolve().parents[1] / "docs"
BASE = "base"  # the flat modules of core
MAY_IMPORT = {
    BASE: {BASE},
    "scoring": {BASE},
    "grains": {BASE},
    "model": {BASE, "scoring", "data"},
    "data": {BASE, "scoring"},
    "sweep": {BASE, "scoring", "model", "grains"},
    "draft": {BASE, "data", "grains"},
}
MAX_FLAT_MODULES = 8
PLOT_MODULES = {"plot.py", "_plots.py"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (SRC / relative).with_suffix(".py").exists() or (SRC / relative / "__init__.py").exists()


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function, as absolute dotted names."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if node.module:  # `from . import scores` imports the module, its package is already there
                found.add(source)
            # `from . import scores` and `from .scoring import boundary` import a module
            found.update(f"{source}.{alias.name}" for alias in node.names if _is_module(f"{source}.{alias.name}"))
    return found


def _core_modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(CORE.rglob("*.py"))}


def _room(module: str) -> str:
    parts = module.split(".")
    if parts[:2] != ["napari_graintrace", "core"]:
        raise ValueError(module)
    if len(parts) == 2:  # core's own face
        return BASE
    return parts[2] if (CORE / parts[2]).is_dir() else BASE


def test_every_room_is_listed_here_and_in_the_design():
    rooms = {path.name for path in CORE.iterdir() if (path / "__init__.py").exists()}
    assert rooms == set(MAY_IMPORT) - {BASE}
    design = (DOCS / "design.md").read_text(encoding="utf-8")
    assert all(f"`{room}`" in design for room in rooms)


def test_rooms_import_only_what_they_may():
    wrong = []
    for module, path in _core_modules().items():
        for imported in _imports(path):
            if imported.startswith("napari_graintrace.core"):
                if not _is_module(imported):
                    wrong.append(f"{module} -> {imported} (no such module)")
                elif _room(imported) not in MAY_IMPORT[_room(module)] | {_room(module)}:
                    wrong.append(f"{module} -> {imported}")
            elif imported.startswith("napari_graintrace"):
                wrong.append(f"{module} -> {imported} (outside core)")
            elif imported.split(".")[0] in {"qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "napari", "magicgui"}:
                wrong.append(f"{module} -> {imported} (a GUI package)")
    assert wrong == []


def test_no_circle_between_modules_lazy_imports_included():
    modules = _core_modules()
    arrows = {module: {m for m in _imports(path) if m in modules and m != module} for module, path in modules.items()}
    circles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(arrows[module]):
            if state.get(target) == "open":
                circles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(modules):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_core_keeps_few_flat_modules():
    flat = [path.name for path in CORE.glob("*.py") if path.name != "__init__.py"]
    assert len(flat) <= MAX_FLAT_MODULES, flat


@pytest.mark.parametrize("room", sorted(set(MAY_IMPORT) - {BASE}))
def test_each_room_has_a_face(room):
    face = importlib.import_module(f"napari_graintrace.core.{room}")
    assert face.__all__ and len(set(face.__all__)) == len(face.__all__)
    assert [name for name in face.__all__ if not hasattr(face, name)] == []


def test_matplotlib_only_in_plot_modules():
    users = sorted(str(path.relative_to(SRC)) for path in PACKAGE.rglob("*.py")
                   if any(name.split(".")[0] == "matplotlib" or name.startswith("napari_matplotlib")
                          for name in _imports(path)))
    assert users and all(Path(user).name in PLOT_MODULES for user in users), users


def _shell_imports(path: Path):
    """(absolute module, [names]) of every ``from ... import ...`` in a shell module."""
    package = _module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            yield ".".join(base + ([node.module] if node.module else [])), [alias.name for alias in node.names]


def test_shells_import_rooms_through_their_faces():
    """cli and _widgets take a room's public names from its face, never from a module inside it, and
    never import each other."""
    wrong = []
    for shell, other in (("cli", "_widgets"), ("_widgets", "cli")):
        for path in (PACKAGE / shell).rglob("*.py"):
            for source, names in _shell_imports(path):
                parts = source.split(".")
                if source.startswith(f"napari_graintrace.{other}"):
                    wrong.append(f"{_module_name(path)} -> {source}")
                if parts[:2] != ["napari_graintrace", "core"] or len(parts) < 3 or not (CORE / parts[2]).is_dir():
                    continue
                face = importlib.import_module(".".join(parts[:3]))
                if len(parts) > 3 or not set(names) <= set(face.__all__):
                    wrong.append(f"{_module_name(path)} -> {source}: {', '.join(names)}")
    assert wrong == []


def test_source_points_nowhere_outside_the_repository():
    pattern = re.compile(r"shared/design\.md|\.\./shared|\bissues? \d+")
    found = [f"{path.relative_to(SRC)}:{number}" for path in PACKAGE.rglob("*.py")
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert found == []
