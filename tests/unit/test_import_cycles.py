"""No import cycles in ``chalicelib/``, and each domain package uses only the packages its ``__init__`` names: the graph of which module imports which, read from the source (``ast``), so an
import inside a function or under ``if TYPE_CHECKING:`` counts as much as one at the top. A cycle is a seam in the
wrong place (an orchestrator and its parts, each needing the other); the fix is a leaf module both import (a
package's ``ports``), not a lazy import that hides it.

An import names a module (``from package import module`` names the module; ``from module import name`` the module);
the parent packages it loads first are not counted, their ``__init__`` being the package's docstring.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "chalicelib"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.AST, known: set[str]) -> set[str]:
    """Every module of ``known`` that the code imports, wherever the import stands."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            named = {f"{node.module}.{alias.name}" for alias in node.names} & known
            found |= named or ({node.module} & known)
    return found


def graph(sources: Mapping[str, str]) -> dict[str, set[str]]:
    """Module -> the modules it imports, of those in ``sources`` (module name -> its source)."""
    known = set(sources)
    return {name: _imported(ast.parse(text), known) - {name} for name, text in sources.items()}


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted: every cycle is in one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
            if w in stack:  # on the stack: in v's component (a finished one was popped whole)
                low[v] = min(low[v], low[w])
        if low[v] == index[v]:
            component = stack[stack.index(v) :]
            del stack[stack.index(v) :]
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def _sources() -> dict[str, str]:
    return {_module_name(p): p.read_text() for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


def test_no_module_of_chalicelib_imports_itself_back() -> None:
    sources = _sources()
    assert len(sources) > 100  # the whole package was read
    assert cycles(graph(sources)) == []


def test_the_checker_sees_a_cycle_through_a_type_only_or_a_function_level_import() -> None:
    # GIVEN an orchestrator whose part takes its types back only under TYPE_CHECKING, and a pair that import
    # each other only inside functions
    planted = {
        "pkg.batch": "from pkg import send\nfrom pkg.mail import compose\n",
        "pkg.send": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.batch import Deps\n",
        "pkg.mail": "def compose():\n    from pkg import review\n",
        "pkg.review": "def run():\n    import pkg.mail\n",
        "pkg.leaf": "import os\nfrom pkg.send import x\n",
    }
    # THEN both cycles are seen, and the leaf that only imports is in none
    assert cycles(graph(planted)) == [["pkg.batch", "pkg.send"], ["pkg.mail", "pkg.review"]]


def test_a_part_that_imports_a_leaf_both_share_makes_no_cycle() -> None:
    fixed = {
        "pkg.ports": "class Deps: ...\n",
        "pkg.batch": "from pkg import send\nfrom pkg.ports import Deps\n",
        "pkg.send": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.ports import Deps\n",
    }
    assert cycles(graph(fixed)) == []


def uses(init_source: str) -> set[str]:
    """The packages a domain package's ``__init__`` docstring names after "Uses" (``core``, ``access``, ...)."""
    doc = ast.get_docstring(ast.parse(init_source)) or ""
    return set(re.findall(r"``(\w+)``", doc.split("Uses", 1)[1])) if "Uses" in doc else set()


def crossings(package: str, allowed: set[str], modules: dict[str, str]) -> set[str]:
    """The imports of a package's modules (type-only and deferred ones too) into a domain package it may not use."""
    found = set()
    for name, text in modules.items():
        for node in ast.walk(ast.parse(text)):
            named = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            named += [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            for module in named:
                parts = module.split(".")
                if parts[:2] == [PACKAGE, "domain"] and len(parts) > 2 and parts[2] not in {package, *allowed}:
                    found.add(f"{name}: {module}")
    return found


def test_each_domain_package_uses_only_the_packages_its_init_names() -> None:
    sources = _sources()
    packages = sorted({n.split(".")[2] for n in sources if n.startswith(f"{PACKAGE}.domain.") and n.count(".") >= 2})
    assert len(packages) >= 12
    found = set()
    for package in packages:
        prefix = f"{PACKAGE}.domain.{package}"
        modules = {n: t for n, t in sources.items() if n == prefix or n.startswith(f"{prefix}.")}
        found |= crossings(package, uses(sources[prefix]), modules)
    assert found == set()


def test_the_package_rule_sees_a_deferred_use_of_a_package_not_named() -> None:
    init = '"""Fan-out.\n\nUses: ``core``, ``digests`` (queued, not sent)."""\n'
    assert uses(init) == {"core", "digests"}
    module = "def f():\n    from chalicelib.domain.releases import recall\nfrom chalicelib.domain.core import models\n"
    assert crossings("fanout", uses(init), {"m": module}) == {"m: chalicelib.domain.releases"}
