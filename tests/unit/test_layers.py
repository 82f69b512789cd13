"""The folders are the layers, and the imports keep to them: routes call the domain with adapters; the domain
speaks to no AWS and knows adapters only as types; adapters never reach back into routes.

Read from the source (``ast``), so an import inside a function counts as much as one at the top; imports
under ``if TYPE_CHECKING:`` do not run and are allowed (the domain may name an adapter's type).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "chalicelib"
AWS_SDK = ("boto3", "botocore", "mypy_boto3")
# What each layer may not import when it runs.
FORBIDDEN = {
    "domain": ("chalicelib.adapters", "chalicelib.routes", "chalice", *AWS_SDK),
    "adapters": ("chalicelib.routes", "chalice"),
}


def _runtime_imports(tree: ast.AST) -> list[str]:
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.extend([node.module] + [f"{node.module}.{alias.name}" for alias in node.names])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in prefixes)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_each_layer_imports_only_what_it_may(layer: str) -> None:
    assert _modules(layer), f"no modules under chalicelib/{layer}"
    crossings = {
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in _modules(layer)
        for module in _runtime_imports(ast.parse(path.read_text()))
        if _within(module, FORBIDDEN[layer])
    }
    assert crossings == set()


def test_the_checker_sees_a_crossing() -> None:
    # The rule must not pass because the reader is blind: a runtime import is seen, a typing-only one is not.
    code = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import boto3\ndef f():\n    import botocore\n"
    assert _runtime_imports(ast.parse(code)) == ["typing", "typing.TYPE_CHECKING", "botocore"]


def test_the_tree_shows_the_layers() -> None:
    top = {p.name for p in PACKAGE.iterdir() if not p.name.startswith(("_", "."))}
    assert {"routes", "domain", "adapters"} <= top
    # Beside the three layers only what every layer shares: resource names, logging, the OpenAPI document.
    assert top - {"routes", "domain", "adapters"} <= {"names.py", "observability.py", "openapi.json"}
