"""Table adapter part: the recent confirmation sends of an address and of an account, which the rate limits of
``chalicelib/domain/subscriptions/limits.py`` read; written only in a transaction with what the confirmation is for, each
counter on the condition that it is still at the revision read (so concurrent requests cannot both pass)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.store._base import TableBase, dump, is_error, key
from chalicelib.domain.core.errors import CountersMoved
from chalicelib.domain.subscriptions.limits import (
    DAY_S,
    HOUR_S,
    History,
    Window,
    after_account,
    after_address,
    mailbox,
    without,
)
from chalicelib.observability import logger

_SK = "CONFIRMS"
_RETRIES = 3


def _address_pk(address: str) -> str:
    return f"CONFIRMS_TO#{mailbox(address)}"  # counted by the inbox it reaches: victim+1@ is victim@'s


def _account_pk(account_id: str) -> str:
    return f"CONFIRMS_BY#{account_id}"


def _window(item: dict[str, Any] | None) -> Window:
    if not item:
        return Window()
    return Window(tuple(int(t) for t in item.get("sent", [])), int(item.get("rev", 0)))


class ConfirmationsMixin(TableBase):
    def confirmation_history(self, account_id: str, address: str) -> History:
        """Both counters, read consistently in one BatchGetItem."""
        keys = [(_address_pk(address), _SK), (_account_pk(account_id), _SK)]
        got = {i["PK"]: i for i in self._batch_get(keys, consistent=True)}
        return History(address=_window(got.get(keys[0][0])), account=_window(got.get(keys[1][0])))

    def confirmation_guards(self, history: History, account_id: str, address: str, now: int) -> list[dict[str, Any]]:
        """The transaction actions that take one confirmation at ``now``: both counters (each only at the revision
        read), and a check that the address is not suppressed."""
        return [
            self._counter(_address_pk(address), history.address, after_address(history.address, now), DAY_S),
            self._counter(_account_pk(account_id), history.account, after_account(history.account, now), HOUR_S),
            {
                "ConditionCheck": {
                    "TableName": self.name,
                    "Key": key(f"SUPPRESSED#{address.lower()}", "SUPPRESSION"),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
        ]

    def take_confirmation(self, guards: list[dict[str, Any]]) -> None:
        """The guards alone (a confirmation sent again for a subscription already written)."""
        try:
            self._db.transact_write_items(TransactItems=guards)  # type: ignore[arg-type]
        except ClientError as exc:
            if is_error(exc, "TransactionCanceledException"):
                raise CountersMoved("The confirmation counters moved; read them again.") from exc
            raise

    def give_back_confirmation(self, account_id: str, address: str, at: int) -> None:
        """Forget the send taken at ``at`` (SES did not accept it). Best effort: if it keeps racing, the limit is
        only stricter for a while."""
        for _attempt in range(_RETRIES):
            history = self.confirmation_history(account_id, address)
            actions = [
                self._counter(_address_pk(address), history.address, without(history.address.sent, at), DAY_S),
                self._counter(_account_pk(account_id), history.account, without(history.account.sent, at), HOUR_S),
            ]
            try:
                self.take_confirmation(actions)
                return
            except CountersMoved:
                continue
        logger.warning("a confirmation not sent could not be given back to its counters")

    def _counter(self, pk: str, read: Window, sent: tuple[int, ...], horizon: int) -> dict[str, Any]:
        if read.rev == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(PK)"}
        else:
            condition = {"ConditionExpression": "rev = :rev", "ExpressionAttributeValues": dump({":rev": read.rev})}
        values = {
            ":sent": list(sent),
            ":next": read.rev + 1,
            ":type": "confirmations",
            ":exp": (max(sent) if sent else 0) + horizon,
        }
        return {
            "Update": {
                "TableName": self.name,
                "Key": key(pk, _SK),
                # TTL removes a counter once nothing in it counts any more
                "UpdateExpression": "SET sent = :sent, rev = :next, expires_at = :exp, #t = :type",
                "ConditionExpression": condition["ConditionExpression"],
                "ExpressionAttributeNames": {"#t": "type"},
                "ExpressionAttributeValues": {**condition.get("ExpressionAttributeValues", {}), **dump(values)},
            }
        }
