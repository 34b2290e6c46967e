"""The rooms' import rules, read from the source with `ast` (nothing is imported): the analysis stands on
its own (no window, no files), and training and benchmarks never need the live window."""

import ast

import pytest

from tests.paths import REPO

RULES = {  # folder -> modules it must not import (a module or anything under it)
    "realtime/analysis": ("realtime.window", "realtime.outputs"),
    "train": ("realtime.window",),
    "bench": ("realtime.window",),
}


def imported_modules(source: str, package: str) -> set[str]:
    """Every module a file of `package` imports, at any depth (functions' lazy imports too), relative
    imports resolved; `from a import b` counts as a and as a.b, since b may be a module."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[:len(parts) - (node.level - 1)])
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def breaks(module: str, forbidden: tuple[str, ...]) -> bool:
    return any(module == f or module.startswith(f + ".") for f in forbidden)


@pytest.mark.parametrize("folder", RULES)
def test_rooms_import_only_what_they_may(folder):
    files = sorted((REPO / folder).rglob("*.py"))
    assert files, folder
    broken = [f"{f.relative_to(REPO)} imports {m}" for f in files
              for m in sorted(imported_modules(f.read_text(), ".".join(f.relative_to(REPO).parent.parts)))
              if breaks(m, RULES[folder])]
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("line", ["import realtime.window.app", "from realtime.window import draw",
                                  "from realtime import window", "from ..window.app import run",
                                  "from .. import outputs",
                                  "def f():\n    from realtime.outputs.csvlog import CsvLogger"])
def test_the_check_sees_every_way_of_importing(line):
    assert any(breaks(m, RULES["realtime/analysis"]) for m in imported_modules(line, "realtime.analysis"))


def test_the_check_lets_the_allowed_through():
    source = "from realtime.analysis.pipeline import Pipeline\nimport realtime.windowing\nfrom . import faces\n"
    modules = imported_modules(source, "realtime.analysis")
    assert "realtime.analysis.faces" in modules
    assert not any(breaks(m, RULES["realtime/analysis"]) for m in modules)
