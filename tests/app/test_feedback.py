"""SES feedback: published to the feedback topic, which feeds the feedback queue (raw delivery) as in AWS;
the runner feeds the queue to the handler as Lambda would, retries included."""

from __future__ import annotations

import json
from typing import Any

import boto3
from chalice.test import Client

from chalicelib.names import ResourceNames
from tests.app.flows import emails_to, subscribe_and_confirm
from tests.app.provisioned_queues import max_receives
from tests.app.test_subscriptions import _audience, _customer, _mine, _new, _notices, _release
from tests.conftest import auth, unique
from tests.helpers import link


def _publish(runner: Any, kind: str, address: str, **detail: Any) -> None:
    """A notification as SES publishes it for an identity (``notificationType``), through the real topic."""
    if kind == "Bounce":
        body = {
            "bounceType": detail.get("bounce_type", "Permanent"),
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": address, "status": "5.1.1"}],
            "feedbackId": unique("f"),
        }
    else:
        body = {
            "complainedRecipients": [{"emailAddress": address}],
            "complaintFeedbackType": "abuse",
            "feedbackId": unique("f"),
        }
    message = {"notificationType": kind, kind.lower(): body, "mail": {"destination": [address]}}
    sns = boto3.client("sns", region_name="us-east-1")
    arn = sns.create_topic(Name=ResourceNames("local").feedback_topic)["TopicArn"]
    sns.publish(TopicArn=arn, Message=json.dumps(message))
    runner.pump()


def test_a_permanent_bounce_suppresses_the_address_everywhere_until_support_lifts_it(
    app_client: Client, runner: Any, provisioned: str, table: Any, later: Any
) -> None:
    # GIVEN one address subscribed in two accounts
    (a1, (p1,)), (a2, (p2,)) = _customer(app_client), _customer(app_client)
    address = f"{unique('Bounced.')}@customer.example"
    subscribe_and_confirm(app_client, provisioned, a1, address, [p1])
    later(601)
    subscribe_and_confirm(app_client, provisioned, a2, address, [p2])

    # WHEN SES reports a permanent bounce for it (in another letter case)
    _publish(runner, "Bounce", address.upper())

    # THEN the address is suppressed, both subscriptions are off, and out of the audience
    assert table.suppressed([address, "nobody@customer.example"]) == {address.lower()}
    assert [s["status"] for s in _mine(app_client, a1) + _mine(app_client, a2)] == ["suppressed", "suppressed"]
    assert _audience(table, p1) == [] and _audience(table, p2) == []
    # AND a release reaches nobody
    _release(app_client, runner, p1)
    assert _notices(provisioned, address) == []

    # WHEN the address subscribes again  THEN 409 address_suppressed saying how to lift it, and no email
    later(601)
    body = {**_new(), "products": [p1], "email": address}
    mails = len(emails_to(provisioned, address))
    resp = app_client.http.post("/subscriptions", headers=auth("customer", a1), body=json.dumps(body))
    assert resp.status_code == 409 and json.loads(resp.body)["error"] == "address_suppressed", resp.body
    assert "support" in json.loads(resp.body)["message"] and len(emails_to(provisioned, address)) == mails

    # WHEN support lifts it  THEN the old subscriptions stay off; subscribing again needs a new confirmation
    lift = app_client.http.delete(f"/suppressions/{address}", headers=auth("support-admin"))
    assert lift.status_code == 200, lift.body
    assert [s["status"] for s in _mine(app_client, a1) + _mine(app_client, a2)] == ["suppressed", "suppressed"]
    assert (
        app_client.http.post("/subscriptions", headers=auth("customer", a1), body=json.dumps(body)).status_code == 202
    )
    confirm = link(emails_to(provisioned, address)[-1], "/subscriptions/confirm")
    assert app_client.http.post(confirm.split("patchcast.test", 1)[1]).status_code == 200
    _release(app_client, runner, p1)
    assert len(_notices(provisioned, address)) == 1


def test_a_complaint_suppresses_and_a_pending_confirmation_link_stops_working(
    app_client: Client, runner: Any, provisioned: str, table: Any
) -> None:
    account, (product,) = _customer(app_client)
    address = f"{unique('cmp')}@customer.example"
    body = {**_new(), "products": [product], "email": address}
    app_client.http.post("/subscriptions", headers=auth("customer", account), body=json.dumps(body))
    _publish(runner, "Complaint", address)
    assert table.suppression(address)["reason"] == "complaint"
    assert _mine(app_client, account)[0]["status"] == "suppressed"
    confirm = link(emails_to(provisioned, address)[-1], "/subscriptions/confirm")
    resp = app_client.http.post(confirm.split("patchcast.test", 1)[1], headers={"Accept": "application/json"})
    assert resp.status_code == 409 and _mine(app_client, account)[0]["status"] == "suppressed"


def test_a_transient_bounce_is_counted_and_nothing_more(
    app_client: Client, runner: Any, provisioned: str, table: Any
) -> None:
    account, (product,) = _customer(app_client)
    address = f"{unique('soft')}@customer.example"
    subscribe_and_confirm(app_client, provisioned, account, address, [product])
    _publish(runner, "Bounce", address, bounce_type="Transient")
    _publish(runner, "Bounce", address, bounce_type="Undetermined")
    assert table.count_transient_bounce(address) == 3  # the two above, and this one
    assert table.suppressed([address]) == set()
    assert _mine(app_client, account)[0]["status"] == "active" and len(_audience(table, product)) == 1


def test_feedback_that_is_not_ses_json_is_dropped_without_a_retry_loop(runner: Any) -> None:
    runner.pump()
    failures = runner.stats.failures
    sns = boto3.client("sns", region_name="us-east-1")
    arn = sns.create_topic(Name=ResourceNames("local").feedback_topic)["TopicArn"]
    for message in ("not json", "[1, 2]", json.dumps({"notificationType": "Delivery"})):
        sns.publish(TopicArn=arn, Message=message)
    assert runner.pump() >= 3 and runner.stats.failures == failures


def test_feedback_that_fails_every_time_is_kept_in_the_feedback_dlq(
    runner: Any, provisioned: str, table: Any, monkeypatch: Any
) -> None:
    # GIVEN a table that fails every suppression (DynamoDB down, say), and an empty feedback DLQ
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = sqs.get_queue_url(QueueName=f"{ResourceNames('local').feedback_queue}-dlq")["QueueUrl"]
    runner.pump()
    failures = runner.stats.failures

    def down(*_: Any, **__: Any) -> None:
        raise RuntimeError("the table is unavailable")

    monkeypatch.setattr(table, "suppress_address", down)
    address = f"{unique('lost')}@customer.example"

    # WHEN SES reports a permanent bounce for an address
    _publish(runner, "Bounce", address)

    # THEN the handler saw it maxReceiveCount times, and the bounce waits in the DLQ (as SES sent it)
    assert runner.stats.failures - failures == max_receives(ResourceNames("local").feedback_queue)
    got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["bounce"]["bouncedRecipients"][0]["emailAddress"] for m in got] == [address]
    for m in got:
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])
