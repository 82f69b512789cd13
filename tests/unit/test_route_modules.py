"""Edges named after what they serve: each route module of ``chalicelib/routes/`` serves the paths that begin
with its own name, so a path's module is found from the folder tree alone."""

from __future__ import annotations

import pytest

# (module, first path segment): why that module serves a path that does not begin with its name.
EXCEPTIONS = {
    ("downloads", "d"): "the emailed download link is kept short: /d/{token}",
    ("subscriptions", "unsubscribe"): "the one-click unsubscribe URL every notice carries (RFC 8058)",
    ("tiers", "entitlements"): "a customer's entitlements are its tier's row of the matrix",
    ("service", "health"): "the service describing itself",
    ("service", "openapi.json"): "the service describing itself",
}


def _served() -> set[tuple[str, str, str]]:
    import app as app_module

    return {
        (entry.view_function.__module__, path, method)
        for path, methods in app_module.app.routes.items()
        for method, entry in methods.items()
    }


def _allowed(module: str, path: str) -> bool:
    name = module.rsplit(".", 1)[-1]
    segment = path.strip("/").split("/")[0]
    return segment == name or name.startswith(f"{segment}_") or (name, segment) in EXCEPTIONS


def test_each_route_module_serves_the_paths_of_its_name() -> None:
    served = _served()
    assert served, "no routes found"
    assert {(m, p) for m, p, _ in served if not _allowed(m, p)} == set()


def test_every_exception_is_still_needed() -> None:
    used = {(m.rsplit(".", 1)[-1], p.strip("/").split("/")[0]) for m, p, _ in _served()}
    assert set(EXCEPTIONS) <= used


@pytest.mark.parametrize(
    ("module", "path", "allowed"),
    [
        ("chalicelib.routes.accounts", "/accounts/{account_id}/review", True),
        ("chalicelib.routes.portal_signin", "/portal/callback", True),
        ("chalicelib.routes.products", "/accounts", False),
        ("chalicelib.routes.catalog", "/catalogue", False),
    ],
)
def test_the_rule_reads_a_module_and_a_path(module: str, path: str, allowed: bool) -> None:
    assert _allowed(module, path) is allowed
