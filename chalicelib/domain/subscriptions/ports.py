"""What the subscriptions' capabilities ask of the store, as Protocols: confirmations (rate-limited, never to a
suppressed address), SES feedback, and the subscriptions themselves."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from chalicelib.domain.core.models import Account, Subscription
from chalicelib.domain.core.states import SubscriptionStatus
from chalicelib.domain.subscriptions.limits import History


class ConfirmationStore(Protocol):  # pragma: no mutate block
    """What a confirmation email needs from the store: the address's suppression, the counters of the rate
    limits, taken in one transaction and given back when SES refuses, and a support admin's lifting of a
    suppression."""

    def suppression(self, address: str) -> dict[str, Any] | None: ...
    def confirmation_history(self, account_id: str, address: str) -> History: ...
    def confirmation_guards(
        self, history: History, account_id: str, address: str, now: int
    ) -> list[dict[str, Any]]: ...
    def take_confirmation(self, guards: list[dict[str, Any]]) -> None: ...
    def give_back_confirmation(self, account_id: str, address: str, at: int) -> None: ...
    def lift_suppression(self, address: str, *, by: str) -> dict[str, Any] | None: ...


class FeedbackStore(Protocol):  # pragma: no mutate block
    """What SES's feedback needs from the store: an address suppressed (its subscriptions turned off), a
    transient bounce counted."""

    def suppress_address(self, address: str, *, reason: str, detail: str, feedback_id: str) -> list[Subscription]: ...
    def count_transient_bounce(self, address: str) -> int: ...


class SubscriptionStore(ConfirmationStore, Protocol):  # pragma: no mutate block
    """What pre-registration needs from the store: the contract, a pending subscription written with its
    confirmation's counters, its activation, change, turning off and deletion."""

    def get_account(self, account_id: str, *, consistent: bool = False) -> Account | None: ...
    def list_subscriptions(self, account_id: str) -> list[Subscription]: ...
    def get_subscription(
        self, account_id: str, subscription_id: str, *, consistent: bool = True
    ) -> Subscription | None: ...
    def put_pending_subscription(
        self, sub: Subscription, *, expires_at: int, guards: Sequence[dict[str, Any]] = ()
    ) -> None: ...
    def activate_subscription(
        self, account_id: str, subscription_id: str, *, tier: str, contract_products: Iterable[str] | None = None
    ) -> Subscription: ...
    def change_subscription(
        self, changed: Subscription, *, tier: str, contract_products: Iterable[str]
    ) -> Subscription: ...
    def turn_off_subscription(
        self, account_id: str, subscription_id: str, status: SubscriptionStatus
    ) -> Subscription | None: ...
    def delete_subscription(self, account_id: str, subscription_id: str) -> bool: ...
