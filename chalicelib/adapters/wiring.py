"""The one place real AWS clients and adapters are made: lazily, once per container.

Every client honours ``AWS_ENDPOINT_URL`` (boto3 reads it), which is how the local stack points the
app at moto. Retries use botocore's ``standard`` mode.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

from chalicelib.adapters import settings as settings_module

if TYPE_CHECKING:
    from chalicelib.adapters.blobs import Blobs
    from chalicelib.adapters.keys import KeySource
    from chalicelib.adapters.mailer import Mailer
    from chalicelib.adapters.queues import Queues
    from chalicelib.adapters.settings import Settings
    from chalicelib.adapters.store import Table
    from chalicelib.domain.access.auth import Verifier
    from chalicelib.domain.mail.pacing import QuotaCache


QUOTA_ATTEMPTS = 5  # GetAccount: standard mode's jittered exponential backoff, ~15 s at most before falling back


class Wiring:
    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    @cached_property
    def settings(self) -> Settings:
        return self._settings or settings_module.get()

    @cached_property
    def _session(self) -> Any:
        import boto3

        return boto3.session.Session(region_name=self.settings.region)

    def client(self, service: str, *, attempts: int = 4, **config: Any) -> Any:
        from botocore.config import Config

        # total_max_attempts counts the first request: botocore's max_attempts counts retries only (1 = one retry)
        cfg = Config(retries={"mode": "standard", "total_max_attempts": attempts}, max_pool_connections=32, **config)
        return self._session.client(service, config=cfg)

    @cached_property
    def table(self) -> Table:
        from chalicelib.adapters.store import Table

        return Table(self.client("dynamodb"), self.settings.names.table)

    @cached_property
    def blobs(self) -> Blobs:
        from chalicelib.adapters.blobs import Blobs, client_config

        return Blobs(self.client("s3", **client_config(os.environ)), self.settings.names.bucket)

    @cached_property
    def queues(self) -> Queues:
        from chalicelib.adapters.queues import Queues

        return Queues(self.client("sqs"), self.settings.names)

    @cached_property
    def mailer(self) -> Mailer:
        from chalicelib.adapters.mailer import Mailer

        # Throttling is ours to handle (re-enqueue only the failed recipients), so SES gets no retries.
        s = self.settings
        config_set = None if s.is_local else s.names.configuration_set
        sender = settings_module.checked_sender(s)
        return Mailer(
            self.client("sesv2", attempts=1),
            sender=sender,
            configuration_set=config_set,
            account_client=self.client("sesv2", attempts=QUOTA_ATTEMPTS),
        )

    @cached_property
    def quota(self) -> QuotaCache:
        from chalicelib.domain.mail.pacing import QuotaCache

        return QuotaCache(self.mailer.send_quota, default_rate=self.settings.ses_default_rate)

    @cached_property
    def keys(self) -> KeySource:
        from chalicelib.adapters.keys import KeySource

        return KeySource(self.client("secretsmanager"), self.settings.names.signing_secret)

    @cached_property
    def verifier(self) -> Verifier:
        from chalicelib.domain.access.auth import Verifier

        s = self.settings
        return Verifier(issuer=s.jwt_issuer, audience=s.jwt_audience, jwks_url=s.jwks_url)


_current: Wiring | None = None


def get() -> Wiring:
    global _current
    if _current is None:
        _current = Wiring()
    return _current


def use(wiring: Wiring | None) -> None:
    """Tests swap the wiring (and with it every client) here."""
    global _current
    _current = wiring
