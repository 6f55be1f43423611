"""The package's shape (docs/ARCHITECTURE.md): who may import whom, no import cycle, small modules, light folders.

The contracts live in pyproject.toml ([tool.importlinter]) and are checked by
import-linter, which reads every import statement, also those inside
functions: an import that dodges a cycle by being lazy still counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest
from conftest import REPO
from importlinter.cli import lint_imports

PACKAGE = REPO / "deletedcalls"
MAX_LINES = 600


def test_every_import_contract_holds(capsys: pytest.CaptureFixture[str]) -> None:
    code = lint_imports(config_filename=str(REPO / "pyproject.toml"), no_cache=True, no_logo=True)
    assert code == 0, capsys.readouterr().out


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The import cycles of the graph: its strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's algorithm; 60-odd modules, so recursion is fine
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_back_through_others() -> None:
    # acyclic_siblings (pyproject.toml) looks at siblings; this looks at every module, a package's
    # __init__ and its own modules included, and at imports inside functions and under TYPE_CHECKING
    graph = grimp.build_graph("deletedcalls", cache_dir=None)
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for module in ("p", "p.a", "p.b", "p.c"):
        graph.add_module(module)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.c")
    graph.add_import(importer="p.c", imported="p.a")
    assert _cycles(graph) == [["p.a", "p.b", "p.c"]]


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_600_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(REPO)} has {lines} lines: split it by what its parts do"


@pytest.mark.parametrize("init", sorted(PACKAGE.rglob("__init__.py")), ids=lambda p: str(p.parent.relative_to(REPO)))
def test_each_folder_says_its_job_in_one_line_and_imports_nothing(init: Path) -> None:
    tree = ast.parse(init.read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree)
    assert doc and doc.splitlines()[0].endswith("."), f"{init.relative_to(REPO)}: its docstring's first line says the folder's job"
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    if init.parent.name == "cli":  # the console entry point deletedcalls.cli:main, and the group the tests drive
        assert [ast.unparse(i) for i in imports] == ["from deletedcalls.cli.app import cli, main"]
    else:  # importing a folder costs nothing: a command imports only the modules it uses
        assert imports == []
