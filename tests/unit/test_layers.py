"""The folders are the layers, and the imports keep to them: routes call the domain with adapters; the domain
speaks to no AWS and knows no adapter, not even as a type (it names the Protocols of its ports,
``chalicelib.domain.core.ports`` and each package's ``ports``); adapters never reach back into routes.

Read from the source (``ast``), so an import inside a function counts as much as one at the top. Imports under
``if TYPE_CHECKING:`` do not run: they count for the domain's adapters and routes (a type is a dependency too),
not for the SDK's types (``mypy_boto3``), which an adapter may name that way.
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
# What each layer may not import even for its types (under ``if TYPE_CHECKING:``).
FORBIDDEN_AS_TYPES = {
    "domain": ("chalicelib.adapters", "chalicelib.routes", "chalice", "boto3", "botocore"),
    "adapters": ("chalicelib.routes", "chalice"),
}


def _imports(tree: ast.AST, *, typing_only_too: bool) -> list[str]:
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test) and not typing_only_too:
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


def _runtime_imports(tree: ast.AST) -> list[str]:
    return _imports(tree, typing_only_too=False)


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


@pytest.mark.parametrize("layer", sorted(FORBIDDEN_AS_TYPES))
def test_no_layer_names_what_it_may_not_import_even_as_a_type(layer: str) -> None:
    crossings = {
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in _modules(layer)
        for module in _imports(ast.parse(path.read_text()), typing_only_too=True)
        if _within(module, FORBIDDEN_AS_TYPES[layer])
    }
    assert crossings == set()


def test_the_type_checker_sees_an_adapter_named_only_for_its_type() -> None:
    # GIVEN a domain module that names an adapter only under TYPE_CHECKING, as 21 of them did
    code = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from chalicelib.adapters.store import Table\n"
        "def f(table: Table) -> None: ...\n"
    )
    # WHEN the imports are read with the typing-only ones
    found = _imports(ast.parse(code), typing_only_too=True)
    # THEN the adapter is seen, and is a crossing for the domain
    assert "chalicelib.adapters.store" in found
    assert any(_within(m, FORBIDDEN_AS_TYPES["domain"]) for m in found)
    assert not any(_within(m, FORBIDDEN_AS_TYPES["domain"]) for m in _runtime_imports(ast.parse(code)))


def test_the_checker_sees_a_crossing() -> None:
    # The rule must not pass because the reader is blind: a runtime import is seen, a typing-only one is not.
    code = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import boto3\ndef f():\n    import botocore\n"
    assert _runtime_imports(ast.parse(code)) == ["typing", "typing.TYPE_CHECKING", "botocore"]


def test_the_tree_shows_the_layers() -> None:
    top = {p.name for p in PACKAGE.iterdir() if not p.name.startswith(("_", "."))}
    assert {"routes", "domain", "adapters"} <= top
    # Beside the three layers only what every layer shares: resource names, logging, the OpenAPI document.
    assert top - {"routes", "domain", "adapters"} <= {"names.py", "observability.py", "openapi.json"}
