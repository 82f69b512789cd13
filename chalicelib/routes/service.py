"""The service describing itself: ``GET /health`` (the table answers) and ``GET /openapi.json``."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from chalice import Blueprint  # type: ignore[attr-defined]

from chalicelib.adapters import wiring
from chalicelib.routes.http import handled, json_response

bp = Blueprint(__name__)
_OPENAPI = Path(__file__).resolve().parent.parent / "openapi.json"


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI 3 document, shipped beside the code (a test keeps it equal to the routes)."""
    doc: dict[str, Any] = json.loads(_OPENAPI.read_text())
    return doc


@bp.route("/health", methods=["GET"])
@handled(bp)
def health() -> Any:
    wiring.get().table.ping()
    return json_response({"status": "ok"})


@bp.route("/openapi.json", methods=["GET"])
@handled(bp)
def openapi() -> Any:
    return json_response(openapi_document())
