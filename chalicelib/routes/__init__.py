"""HTTP routes and event handlers as Chalice blueprints, one per area; ``app.py`` registers them.

Each route is a decorator and one call into the domain modules, wrapped by ``http.handled`` so domain
errors become their status code.

Cold start: every Lambda function of the app imports ``app.py`` and so every module here, but each
function serves only some of the routes. So a route imports its domain module (and through it boto3,
Powertools, MIME, ...) inside the handler, where Python caches it after the first call; at module level
these files import only what registering the routes needs. ``tests/unit/test_cold_start.py`` keeps it so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib import wiring

if TYPE_CHECKING:
    from chalicelib.links import LinkMaker
    from chalicelib.tokens import KeyRing


def links(ring: KeyRing | None = None) -> LinkMaker:
    from chalicelib.links import LinkMaker

    w = wiring.get()
    return LinkMaker(ring=ring or w.keys.ring(), base_url=w.settings.public_base_url)
