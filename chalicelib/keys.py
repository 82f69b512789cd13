"""The link-signing key ring, kept in Secrets Manager and cached through Powertools parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.tokens import KeyRing

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

CACHE_SECONDS = 300  # a rotated key reaches every warm container within five minutes


MIN_KEY_CHARS = 32


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
    def __init__(self, client: SecretsManagerClient, secret_name: str) -> None:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        self._provider = SecretsProvider(boto3_client=client)
        self._name = secret_name

    def ring(self) -> KeyRing:
        return parse_ring(self._provider.get(self._name, transform="json", max_age=CACHE_SECONDS))
