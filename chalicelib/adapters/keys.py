"""The link-signing key ring, kept in Secrets Manager and cached through Powertools parameters."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib.domain.access.tokens import KeyRing

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

CACHE_SECONDS = 300  # a rotated key reaches every warm container within five minutes


MIN_KEY_CHARS = 32
MISS_REFRESH_SECONDS = 30


def parse_ring(doc: Any) -> KeyRing:
    """The secret is flat JSON, ``{"current": kid, kid: secret, ...}`` (the shape CloudFormation's
    GenerateSecretString makes); every kid listed verifies, ``current`` signs."""
    if not isinstance(doc, dict) or doc.get("current") not in doc:
        raise ValueError("signing-key secret must be {'current': kid, kid: secret, ...} with current among the kids")
    keys = {k: str(v).encode() for k, v in doc.items() if k != "current"}
    if any(len(v) < MIN_KEY_CHARS for v in keys.values()):
        raise ValueError(f"every signing key must have at least {MIN_KEY_CHARS} characters")
    return KeyRing(current=str(doc["current"]), keys=keys)


class KeySource:
    """The ring, cached ``max_age`` seconds; a token naming a kid the cached ring lacks (just rotated in
    elsewhere) triggers one early re-read, at most every ``MISS_REFRESH_SECONDS``, so junk kids cannot
    turn into a flood of Secrets Manager calls."""

    def __init__(
        self,
        client: SecretsManagerClient,
        secret_name: str,
        *,
        max_age: int = CACHE_SECONDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        self._provider = SecretsProvider(boto3_client=client)
        self._name = secret_name
        self._max_age = max_age
        self._clock = clock or time.monotonic
        self._last_forced = float("-inf")

    def ring(self, kid: str | None = None) -> KeyRing:
        ring = self._read(force=False)
        if kid is not None and kid not in ring.keys and self._clock() - self._last_forced >= MISS_REFRESH_SECONDS:
            self._last_forced = self._clock()
            ring = self._read(force=True)
        return ring

    def ring_for(self, token: str) -> KeyRing:
        """The ring to verify ``token`` with (its kid is the text before the first dot)."""
        return self.ring(token.partition(".")[0][:16] or None)

    def refresh(self) -> KeyRing:
        return self._read(force=True)

    def _read(self, *, force: bool) -> KeyRing:
        doc = self._provider.get(self._name, transform="json", max_age=self._max_age, force_fetch=force)
        return parse_ring(doc)
