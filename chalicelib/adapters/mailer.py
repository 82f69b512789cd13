"""SES (v2) adapter: raw MIME sends, send quota; SES error codes become domain errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.core.errors import Paused, Rejected, Throttled
from chalicelib.domain.mail.pacing import SendQuota

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

__all__ = ["Mailer", "Paused", "Rejected", "Throttled"]

_TRANSIENT = {"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException",
              "InternalFailure", "ServiceUnavailable"}  # fmt: skip
_PAUSED = {"SendingPausedException", "AccountSendingPausedException"}


class Mailer:
    def __init__(
        self,
        client: SESV2Client,
        *,
        sender: str,
        configuration_set: str | None = None,
        account_client: SESV2Client | None = None,
    ) -> None:
        self._ses = client
        # GetAccount is throttled near 1 request/s per account while many containers start at once: it
        # gets a client that retries with backoff, unlike SendEmail's (whose throttling we handle).
        self._account = account_client or client
        self.sender = sender
        self._configuration_set = configuration_set

    def send_raw(self, to: str, raw: bytes) -> str:
        kwargs: dict = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": [to]},
            "Content": {"Raw": {"Data": raw}},
        }
        if self._configuration_set:
            kwargs["ConfigurationSetName"] = self._configuration_set
        try:
            return self._ses.send_email(**kwargs)["MessageId"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _PAUSED:
                raise Paused(code) from exc
            if code in _TRANSIENT:
                raise Throttled(code) from exc
            raise Rejected(f"{code}: {exc.response.get('Error', {}).get('Message', '')}") from exc

    def send_quota(self) -> SendQuota | None:
        """The account's send rate and whether sending is enabled (``GetAccount``); None when unavailable."""
        try:
            got = self._account.get_account()
        except (ClientError, BotoCoreError):  # retries spent, or the local AWS (no GetAccount): QuotaCache falls back
            return None
        rate = float(got.get("SendQuota", {}).get("MaxSendRate") or 0.0)
        return SendQuota(max_send_rate=rate, sending_enabled=bool(got.get("SendingEnabled", True)))
