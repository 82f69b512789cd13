"""Subscriptions' rules without the table: what a new subscription's body becomes, what a change may touch,
and what confirm, unsubscribe and remove ask of the table, each refusal in the words the API returns.
The app tests (tests/app/test_subscriptions.py) pin the same flows on moto; here a small table double
records what was asked of it."""

from __future__ import annotations

import dataclasses
import time
from datetime import date
from typing import Any

import pytest

from chalicelib.domain.access.auth import Identity
from chalicelib.domain.access.links import LinkMaker
from chalicelib.domain.access.tokens import KeyRing, Purpose, mint, verify
from chalicelib.domain.core.errors import AlreadySubscribed, PatchcastError
from chalicelib.domain.core.models import MAX_PRODUCTS, Account, Subscription
from chalicelib.domain.core.states import SubscriptionStatus
from chalicelib.domain.subscriptions import confirmations
from chalicelib.domain.subscriptions import preregistration as subscriptions
from tests.helpers import link, parse

RING = KeyRing(current="k1", keys={"k1": b"s" * 40})
PREMIUM = Account("acct", "Acme", "premium", ("M3", "XA"), date(2026, 1, 1), date(2030, 12, 31))
ELITE = dataclasses.replace(PREMIUM, tier="elite")
URLS = LinkMaker(RING, "https://patchcast.test")
CUSTOMER = Identity(subject="u-1", email="admin@acme.example", account_id="acct", groups=frozenset())
BODY: dict[str, Any] = {"email": "ops@acme.example", "products": ["M3"], "kinds": ["patch"], "max_severity": 2}


class Table:
    """The table calls subscriptions makes, over two dicts, recording each write as ``(call, args)``."""

    def __init__(self, account: Account | None = PREMIUM, *subs: Subscription) -> None:
        self.accounts = {account.account_id: account} if account else {}
        self.subs = {(s.account_id, s.subscription_id): s for s in subs}
        self.writes: list[tuple[str, tuple[Any, ...]]] = []

    def get_account(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)

    def get_subscription(self, account_id: str, subscription_id: str) -> Subscription | None:
        return self.subs.get((account_id, subscription_id))

    def list_subscriptions(self, account_id: str) -> list[Subscription]:
        return [s for (a, _), s in self.subs.items() if a == account_id]

    def change_subscription(self, sub: Subscription, *, tier: str, contract_products: tuple[str, ...]) -> Subscription:
        self.writes.append(("change", (sub, tier, contract_products)))
        return sub

    def activate_subscription(
        self, account_id: str, subscription_id: str, *, tier: str, contract_products: tuple[str, ...]
    ) -> Subscription:
        self.writes.append(("activate", (account_id, subscription_id, tier, contract_products)))
        return self.subs[(account_id, subscription_id)]

    def turn_off_subscription(self, account_id: str, subscription_id: str, status: SubscriptionStatus) -> None:
        self.writes.append(("turn_off", (account_id, subscription_id, status)))

    def put_pending_subscription(self, sub: Subscription, *, expires_at: int, guards: list[Any]) -> None:
        self.writes.append(("put_pending", (sub, expires_at, guards)))
        self.subs[(sub.account_id, sub.subscription_id)] = sub

    def delete_subscription(self, account_id: str, subscription_id: str) -> bool:
        self.writes.append(("delete", (account_id, subscription_id)))
        return self.subs.pop((account_id, subscription_id), None) is not None


def _sub(status: SubscriptionStatus = SubscriptionStatus.ACTIVE, **kw: Any) -> Subscription:
    sub = Subscription("acct", "s1", "ops@acme.example", ("M3",), ("patch",), 2, ("ga",), status, "t")
    return dataclasses.replace(sub, **kw)


def _refusal(call: Any, *args: Any) -> tuple[int, str, str]:
    with pytest.raises(PatchcastError) as refused:
        call(*args)
    return refused.value.status, refused.value.code, refused.value.message


def _token(purpose: Purpose, *, expires_in: int = 3600, account_id: str = "acct") -> str:
    return mint(RING, purpose, account_id=account_id, subject="s1", expires=int(time.time()) + expires_in)


# -- a new subscription's body -----------------------------------------------------------------------
def test_a_new_subscription_s_body_is_checked_and_defaults_to_ga_every_version_and_no_digest() -> None:
    assert subscriptions.parse_new(dict(BODY), PREMIUM) == {
        "email": "ops@acme.example",
        "products": ["M3"],
        "kinds": ["patch"],
        "max_severity": 2,
        "channels": ["ga"],
        "installed": None,
        "digest": {},
    }


def test_a_new_subscription_keeps_its_channels_version_lines_and_digest() -> None:
    body = {**BODY, "channels": ["ga", "beta"], "installed": {"M3": ["13.4"]}, "digest": {"3": "daily"}}
    parsed = subscriptions.parse_new(body, ELITE)
    assert (parsed["channels"], parsed["installed"], parsed["digest"]) == (
        ["beta", "ga"],
        {"M3": ("13.4",)},
        {"3": "daily"},
    )


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"email": None}, "missing_field", "Field 'email' is required."),
        ({"colour": "red"}, "unknown_field", "Unknown field(s): colour."),
        ({"products": ["M3", "ZZ", "YY"]}, "unknown_product", "Product(s) not in the contract of account acct: YY, ZZ."),
    ],
)  # fmt: skip
def test_a_bad_new_subscription_is_refused_naming_the_problem(change: dict[str, Any], code: str, message: str) -> None:
    body = {k: x for k, x in {**BODY, **change}.items() if x is not None}
    assert _refusal(subscriptions.parse_new, body, PREMIUM) == (400, code, message)


@pytest.mark.parametrize(
    "change",
    [
        {"max_severity": 0},
        {"max_severity": 5},
        {"kinds": ["hotfix"]},
        {"channels": ["alpha"]},
        {"products": ["M3", "no such!"]},
        {"digest": {"1": "daily"}},
    ],
)
def test_a_preference_outside_its_range_is_a_bad_request(change: dict[str, Any]) -> None:
    status, _, _ = _refusal(subscriptions.parse_new, {**BODY, **change}, PREMIUM)
    assert status == 400


@pytest.mark.parametrize("field", ["products", "kinds", "max_severity"])
def test_a_new_subscription_names_its_products_kinds_and_severity_threshold(field: str) -> None:
    body = {k: x for k, x in BODY.items() if k != field}
    assert _refusal(subscriptions.parse_new, body, PREMIUM)[:2] == (400, "missing_field")


@pytest.mark.parametrize("severity", [1, 4])
def test_the_severity_threshold_runs_from_1_to_4(severity: int) -> None:
    assert subscriptions.parse_new({**BODY, "max_severity": severity}, PREMIUM)["max_severity"] == severity


def test_a_subscription_follows_at_most_the_product_limit() -> None:
    many = tuple(f"P{n}" for n in range(MAX_PRODUCTS + 1))
    account = dataclasses.replace(PREMIUM, products=many)
    assert len(subscriptions.parse_new({**BODY, "products": list(many[:-1])}, account)["products"]) == MAX_PRODUCTS
    assert _refusal(subscriptions.parse_new, {**BODY, "products": list(many)}, account)[0] == 400


@pytest.mark.parametrize("channels", [["beta"], ["ga", "beta"]])
def test_every_channel_asked_for_must_be_entitled(channels: list[str]) -> None:
    assert _refusal(subscriptions.parse_new, {**BODY, "channels": channels}, PREMIUM) == (
        403,
        "channel_not_entitled",
        "Xtreme Premium does not include beta releases; beta and test programmes are Xtreme Elite only.",
    )


def test_an_ended_support_period_takes_no_new_subscription() -> None:
    ended = dataclasses.replace(PREMIUM, support_end=date(2026, 1, 31))
    status, code, _ = _refusal(subscriptions.parse_new, dict(BODY), ended)
    assert (status, code) == (403, "support_period_ended")


# -- subscribing: one confirmation email, through the confirmation limits -----------------------------
class _Mailer:
    sender = "alerts@patchcast.test"


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What subscriptions handed to ``confirmations.send``, the one way out of every confirmation (its limits
    and suppression check have tests of their own)."""
    handed: list[dict[str, Any]] = []
    monkeypatch.setattr(
        confirmations, "send", lambda table, mailer, **kw: handed.append({**kw, "via": (table, mailer)})
    )
    return handed


def _confirm_claims(raw: bytes, address: str) -> tuple[str, str, float]:
    msg = parse(raw)
    text = msg.get_body(("plain",)).get_content()
    assert msg["To"] == address and msg["From"] == "alerts@patchcast.test"
    assert "release alerts for M3 on behalf of Acme." in text and "Confirm within 24 hours" in text
    claims = verify(RING, link(msg, "/subscriptions/confirm").split("token=", 1)[1], Purpose.CONFIRM)
    return claims.account_id, claims.subject, claims.expires - time.time()


def test_subscribing_writes_a_pending_subscription_once_its_confirmation_may_go_out(
    sent: list[dict[str, Any]],
) -> None:
    table, mailer = Table(PREMIUM), _Mailer()
    body = {**BODY, "installed": {"M3": ["13.4"]}, "digest": {"3": "weekly"}}
    sub = subscriptions.create(table, mailer, URLS, CUSTOMER, body, confirm_hours=24)  # type: ignore[arg-type]
    assert dataclasses.replace(sub, subscription_id="s1", created_at="t") == _sub(
        SubscriptionStatus.PENDING, installed={"M3": ("13.4",)}, digest={"3": "weekly"}
    )
    assert len(sub.subscription_id) == 16 and sub.created_at.endswith("Z")
    ((handed),) = sent
    assert (handed["via"], handed["account_id"], handed["address"]) == ((table, mailer), "acct", "ops@acme.example")
    account_id, subject, lives = _confirm_claims(handed["raw"], "ops@acme.example")
    assert (account_id, subject) == ("acct", sub.subscription_id) and 24 * 3600 - 5 < lives <= 24 * 3600
    # WHEN confirmations takes it: the pending subscription is written with the guards, expiring with its link
    handed["write"](["guard"])
    ((call, (written, expires_at, guards)),) = table.writes
    assert (call, written, guards) == ("put_pending", sub, ["guard"])
    assert 24 * 3600 - 5 < expires_at - time.time() <= 24 * 3600
    # AND when the email cannot go out, it is taken back
    handed["undo"]()
    assert table.writes[-1] == ("delete", ("acct", sub.subscription_id)) and table.subs == {}


@pytest.mark.parametrize("status", [SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE])
def test_subscribing_an_address_the_account_holds_names_its_subscription(
    sent: list[dict[str, Any]], status: SubscriptionStatus
) -> None:
    table = Table(PREMIUM, _sub(status))
    with pytest.raises(AlreadySubscribed) as held:
        subscriptions.create(table, _Mailer(), URLS, CUSTOMER, dict(BODY), confirm_hours=24)  # type: ignore[arg-type]
    assert held.value.subscription_id == "s1" and sent == []


def test_an_address_that_unsubscribed_or_another_address_may_subscribe(sent: list[dict[str, Any]]) -> None:
    table = Table(PREMIUM, _sub(SubscriptionStatus.UNSUBSCRIBED), _sub(subscription_id="s2", email="x@acme.example"))
    subscriptions.create(table, _Mailer(), URLS, CUSTOMER, dict(BODY), confirm_hours=24)  # type: ignore[arg-type]
    assert [kw["address"] for kw in sent] == ["ops@acme.example"]


def test_subscribing_needs_a_contract(sent: list[dict[str, Any]]) -> None:
    def create() -> None:
        subscriptions.create(Table(None), _Mailer(), URLS, CUSTOMER, dict(BODY), confirm_hours=24)  # type: ignore[arg-type]

    assert _refusal(create) == (403, "no_contract", "Account acct has no support contract.")
    assert sent == []


def test_a_pending_subscription_s_confirmation_is_sent_again_through_the_same_limits(
    sent: list[dict[str, Any]],
) -> None:
    table, mailer = Table(PREMIUM, _sub(SubscriptionStatus.PENDING)), _Mailer()
    again = subscriptions.resend_confirmation(table, mailer, URLS, CUSTOMER, "s1", confirm_hours=24)  # type: ignore[arg-type]
    assert again == _sub(SubscriptionStatus.PENDING)
    ((handed),) = sent
    assert set(handed) == {"via", "account_id", "address", "raw"}  # no write: the guards are written alone
    assert (handed["via"], handed["account_id"], handed["address"]) == ((table, mailer), "acct", "ops@acme.example")
    assert _confirm_claims(handed["raw"], "ops@acme.example")[:2] == ("acct", "s1")
    assert table.writes == []


# -- changes -------------------------------------------------------------------------------------------
def test_a_change_touches_only_the_fields_it_names_and_is_written_with_the_contract() -> None:
    table = Table(PREMIUM, _sub(digest={"3": "daily"}))
    changed = subscriptions.change(table, CUSTOMER, "s1", {"kinds": ["patch", "update"], "max_severity": 3})  # type: ignore[arg-type]
    assert changed == _sub(kinds=("patch", "update"), max_severity=3, digest={"3": "daily"})
    assert table.writes == [("change", (changed, "premium", ("M3", "XA")))]


@pytest.mark.parametrize(
    ("body", "changed"),
    [
        ({"products": ["XA"]}, {"products": ("XA",)}),
        ({"digest": {"2": "weekly"}}, {"digest": {"2": "weekly"}}),
        ({"installed": {"XA": ["2.1"]}}, {"installed": {"XA": ("2.1",)}}),
        ({"channels": ["ga"], "kinds": ["update"]}, {"kinds": ("update",)}),
    ],
)
def test_each_preference_a_change_names_is_changed(body: dict[str, Any], changed: dict[str, Any]) -> None:
    table = Table(PREMIUM, _sub())
    assert subscriptions.change(table, CUSTOMER, "s1", body) == _sub(**changed)  # type: ignore[arg-type]


@pytest.mark.parametrize("body", [{"products": ["M3", "ZZ"]}, {"installed": {"ZZ": ["1.0"]}}])
def test_a_change_to_a_product_outside_the_contract_is_refused(body: dict[str, Any]) -> None:
    table = Table(PREMIUM, _sub())
    assert _refusal(subscriptions.change, table, CUSTOMER, "s1", body)[:2] == (400, "unknown_product")
    assert table.writes == []


def test_a_change_may_widen_the_version_lines_back_to_every_version() -> None:
    table = Table(PREMIUM, _sub(installed={"M3": ("13.4",)}))
    assert subscriptions.change(table, CUSTOMER, "s1", {"installed": None}).installed is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"email": "new@acme.example"}, "read_only_field",
         "Field 'email' cannot be changed: subscribe the new address, which confirms it."),
        ({}, "missing_field",
         "Nothing to change: give one or more of products, kinds, max_severity, channels, installed, digest."),
        ({"status": "active"}, "unknown_field", "Unknown field(s): status."),
    ],
)  # fmt: skip
def test_a_change_that_is_not_one_is_refused(body: dict[str, Any], code: str, message: str) -> None:
    table = Table(PREMIUM, _sub())
    assert _refusal(subscriptions.change, table, CUSTOMER, "s1", body) == (400, code, message)
    assert table.writes == []


def test_a_turned_off_subscription_is_not_changed_back_on() -> None:
    table = Table(PREMIUM, _sub(SubscriptionStatus.UNSUBSCRIBED))
    assert _refusal(subscriptions.change, table, CUSTOMER, "s1", {"max_severity": 3}) == (
        409,
        "subscription_unsubscribed",
        "This subscription is unsubscribed; subscribe again (a new confirmation email is sent).",
    )
    assert table.writes == []


def test_a_pending_subscription_may_be_changed() -> None:
    table = Table(PREMIUM, _sub(SubscriptionStatus.PENDING))
    assert subscriptions.change(table, CUSTOMER, "s1", {"max_severity": 3}).max_severity == 3  # type: ignore[arg-type]


def test_a_change_to_a_channel_the_tier_lacks_is_refused() -> None:
    table = Table(PREMIUM, _sub())
    status, code, _ = _refusal(subscriptions.change, table, CUSTOMER, "s1", {"channels": ["ga", "beta"]})
    assert (status, code, table.writes) == (403, "channel_not_entitled", [])


def test_a_change_without_a_contract_is_refused() -> None:
    table = Table(None, _sub())
    assert _refusal(subscriptions.change, table, CUSTOMER, "s1", {"max_severity": 3}) == (
        403,
        "no_contract",
        "Account acct has no support contract.",
    )


@pytest.mark.parametrize(
    ("subscription_id", "shown"), [("s2", "s2"), ("bad id!", "bad id!"), ("x" * 70 + "!", "x" * 64)]
)
def test_another_account_s_or_a_malformed_subscription_looks_like_none(subscription_id: str, shown: str) -> None:
    table = Table(PREMIUM, _sub())
    assert _refusal(subscriptions.change, table, CUSTOMER, subscription_id, {"max_severity": 3}) == (
        404,
        "not_found",
        f"Subscription {shown} does not exist.",
    )


# -- remove, list ------------------------------------------------------------------------------------------
def test_removing_deletes_the_caller_s_subscription_and_a_second_time_finds_none() -> None:
    table = Table(PREMIUM, _sub())
    assert subscriptions.list_own(table, CUSTOMER) == [_sub()]  # type: ignore[arg-type]
    subscriptions.remove(table, CUSTOMER, "s1")  # type: ignore[arg-type]
    assert table.writes == [("delete", ("acct", "s1"))] and subscriptions.list_own(table, CUSTOMER) == []  # type: ignore[arg-type]
    assert _refusal(subscriptions.remove, table, CUSTOMER, "s1")[:2] == (404, "not_found")


def test_a_subscription_deleted_meanwhile_is_not_found() -> None:
    table = Table(PREMIUM, _sub())
    table.delete_subscription = lambda account_id, subscription_id: False  # type: ignore[method-assign]
    assert _refusal(subscriptions.remove, table, CUSTOMER, "s1") == (
        404,
        "not_found",
        "Subscription s1 does not exist.",
    )


def test_resending_a_confirmation_needs_a_pending_subscription() -> None:
    table = Table(PREMIUM, _sub())

    def resend() -> None:
        subscriptions.resend_confirmation(table, None, None, CUSTOMER, "s1", confirm_hours=24)  # type: ignore[arg-type]

    assert _refusal(resend) == (
        409,
        "subscription_active",
        "This subscription is active: there is nothing to confirm.",
    )


# -- confirmation and unsubscribe links ------------------------------------------------------------------
def test_a_confirmation_link_activates_its_subscription_with_the_account_s_tier_and_products() -> None:
    table = Table(PREMIUM, _sub(SubscriptionStatus.PENDING))
    token = _token(Purpose.CONFIRM)
    assert subscriptions.confirm_target(table, RING, token) == _sub(SubscriptionStatus.PENDING)  # type: ignore[arg-type]
    subscriptions.confirm(table, RING, token)  # type: ignore[arg-type]
    assert table.writes == [("activate", ("acct", "s1", "premium", ("M3", "XA")))]


@pytest.mark.parametrize("account", [None, dataclasses.replace(PREMIUM, tier="gold")])
def test_a_confirmation_link_of_an_account_without_a_known_tier_is_not_valid(account: Account | None) -> None:
    table = Table(account, _sub(SubscriptionStatus.PENDING))
    assert _refusal(subscriptions.confirm, table, RING, _token(Purpose.CONFIRM)) == (
        404,
        "invalid_link",
        "This confirmation link is not valid.",
    )
    assert table.writes == []


def test_an_unsubscribe_link_turns_its_subscription_off() -> None:
    table = Table(PREMIUM, _sub())
    token = _token(Purpose.UNSUBSCRIBE)
    assert subscriptions.unsubscribe_target(table, RING, token) == _sub()  # type: ignore[arg-type]
    subscriptions.unsubscribe(table, RING, token)  # type: ignore[arg-type]
    assert table.writes == [("turn_off", ("acct", "s1", SubscriptionStatus.UNSUBSCRIBED))]


@pytest.mark.parametrize(
    ("call", "purpose", "expires_in", "answer"),
    [
        (subscriptions.confirm, Purpose.CONFIRM, -60,
         (410, "link_expired", "This confirmation link has expired; subscribe again to get a new one.")),
        (subscriptions.confirm_target, Purpose.UNSUBSCRIBE, 60,
         (404, "invalid_link", "This confirmation link is not valid.")),
        (subscriptions.unsubscribe, Purpose.UNSUBSCRIBE, -60, (410, "link_expired", "This unsubscribe link has expired.")),
        (subscriptions.unsubscribe_target, Purpose.CONFIRM, 60,
         (404, "invalid_link", "This unsubscribe link is not valid.")),
    ],
)  # fmt: skip
def test_an_expired_or_foreign_link_says_so_and_changes_nothing(
    call: Any, purpose: Purpose, expires_in: int, answer: tuple[int, str, str]
) -> None:
    table = Table(PREMIUM, _sub(SubscriptionStatus.PENDING))
    assert _refusal(call, table, RING, _token(purpose, expires_in=expires_in)) == answer
    assert table.writes == []


# -- the unsubscribe page ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("address", "shown"), [("a@x.example", "a*@x.example"), ("ab@x.example", "a*@x.example"),
                                                ("abcd@x.example", "a***@x.example")])  # fmt: skip
def test_the_masked_address_keeps_the_first_letter_and_the_domain(address: str, shown: str) -> None:
    assert subscriptions.masked(address) == shown


def test_a_one_click_body_with_a_stray_byte_still_counts() -> None:
    assert subscriptions.is_one_click(b"List-Unsubscribe=One-Click&x=\xff")
