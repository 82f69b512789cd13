"""Table adapter part: the portal's sessions and the sign-in codes already used.

A session is ``PK=SESSION#<SHA-256 of the cookie's id>``, ``SK=SESSION``: the ID token it signed in with
(refreshed on the server when it expires), the provider's refresh token, and ``expires_at`` (TTL; read as
gone once past, since TTL deletes within days, not at once). Sign-out deletes it: the old cookie and its
CSRF token are then worth nothing. A code used once is ``PK=CODE#<code id>``, ``SK=USED`` (TTL: the code's
own expiry), written only if absent, so a code is exchanged once.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.store._base import TableBase, dump, is_error, key, load


def _session_key(session_hash: str) -> dict[str, Any]:
    return key(f"SESSION#{session_hash}", "SESSION")


class SessionsMixin(TableBase):
    def put_session(self, session_hash: str, *, id_token: str, refresh_token: str, expires_at: int) -> None:
        item = {**load(_session_key(session_hash)), "id_token": id_token, "refresh_token": refresh_token,
                "expires_at": expires_at, "type": "session"}  # fmt: skip
        self._db.put_item(TableName=self.name, Item=dump(item))

    def get_session(self, session_hash: str) -> dict[str, Any] | None:
        got = self._db.get_item(TableName=self.name, Key=_session_key(session_hash), ConsistentRead=True).get("Item")
        item = load(got) if got else None
        if item is None or int(item.get("expires_at", 0)) <= time.time():
            return None
        return item

    def refresh_session(self, session_hash: str, *, id_token: str, refresh_token: str) -> bool:
        """The session's new ID token; False when it was signed out meanwhile (nothing is written then)."""
        try:
            self._db.update_item(
                TableName=self.name,
                Key=_session_key(session_hash),
                UpdateExpression="SET id_token = :t, refresh_token = :r",
                ConditionExpression="attribute_exists(PK) AND expires_at > :now",
                ExpressionAttributeValues=dump({":t": id_token, ":r": refresh_token, ":now": int(time.time())}),
            )
        except ClientError as exc:
            if is_error(exc, "ConditionalCheckFailedException"):
                return False
            raise
        return True

    def delete_session(self, session_hash: str) -> None:
        self._db.delete_item(TableName=self.name, Key=_session_key(session_hash))

    def use_code(self, code_id: str, *, expires_at: int) -> bool:
        """True the first time a sign-in code is used; False every time after."""
        item = {**load(key(f"CODE#{code_id}", "USED")), "expires_at": expires_at, "type": "code"}
        try:
            self._db.put_item(TableName=self.name, Item=dump(item), ConditionExpression="attribute_not_exists(PK)")
        except ClientError as exc:
            if is_error(exc, "ConditionalCheckFailedException"):
                return False
            raise
        return True
