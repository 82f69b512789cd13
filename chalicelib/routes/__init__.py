"""HTTP routes and event handlers as Chalice blueprints, one per area; ``app.py`` registers them.

Each route is a decorator and one call into the domain modules, wrapped by ``http.handled`` so domain
errors become their status code.
"""

from __future__ import annotations

from chalicelib import wiring
from chalicelib.links import LinkMaker
from chalicelib.tokens import KeyRing


def links(ring: KeyRing | None = None) -> LinkMaker:
    w = wiring.get()
    return LinkMaker(ring=ring or w.keys.ring(), base_url=w.settings.public_base_url)
