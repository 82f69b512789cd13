"""Resource names every part agrees on, derived from the stage alone.

Decorators in ``app.py`` need queue and topic names at import time, so they are a pure function of
``PATCHCAST_STAGE`` (set per stage in ``.chalice/config.json``); ``infra/`` uses the same pattern.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# Where release files live in the packages bucket: uploads arrive here, mismatches are set aside.
UPLOAD_PREFIX = "uploads/"
REJECTED_PREFIX = "rejected/"


@dataclass(frozen=True)
class ResourceNames:
    stage: str

    def _name(self, suffix: str) -> str:
        return f"patchcast-{self.stage}-{suffix}"

    @property
    def table(self) -> str:
        return self._name("table")

    @property
    def bucket(self) -> str:
        return self._name("packages")

    @property
    def uploads_queue(self) -> str:
        return self._name("uploads")

    @property
    def fanout_queue(self) -> str:
        return self._name("fanout")

    @property
    def deliver_queue(self) -> str:
        return self._name("deliver")

    @property
    def critical_queue(self) -> str:
        return self._name("deliver-critical")

    @property
    def feedback_queue(self) -> str:
        """SES feedback, subscribed to the feedback topic: retried, then kept in its DLQ (never dropped)."""
        return self._name("feedback")

    @property
    def accounts_queue(self) -> str:
        """Contract changes: an account's audience entries rewritten a page of subscriptions per message."""
        return self._name("accounts")

    @property
    def scheduled_queue(self) -> str:
        """The scheduled mail: batches of due accounts' reviews and support warnings, and pages to plan."""
        return self._name("scheduled")

    @property
    def digest_queue(self) -> str:
        """Digests: the pages of a due window planned into batches, and those batches sent (docs/digests.md)."""
        return self._name("digests")

    @property
    def feedback_topic(self) -> str:
        return self._name("ses-feedback")

    @property
    def configuration_set(self) -> str:
        return self._name("mail")

    @property
    def signing_secret(self) -> str:
        return f"patchcast/{self.stage}/signing-keys"


def current(env: Mapping[str, str] = os.environ) -> ResourceNames:
    """The one source of resource names: the decorators' at import time, and ``Settings.names`` at run time."""
    return ResourceNames(stage=env.get("PATCHCAST_STAGE", "local"))
