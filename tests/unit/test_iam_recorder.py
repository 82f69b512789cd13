"""The recorder's translation of botocore operations into the IAM actions and ARNs a policy must allow."""

from __future__ import annotations

from tests.iam_recorder import ACCOUNT, accesses

R = "us-east-1"


def test_batched_sqs_sends_need_send_message_on_the_queue() -> None:
    got = accesses("sqs", "SendMessageBatch", R, {"QueueUrl": f"http://localhost/{ACCOUNT}/patchcast-x-deliver"})
    assert got == [("sqs:SendMessage", f"arn:aws:sqs:{R}:{ACCOUNT}:patchcast-x-deliver")]


def test_a_copy_reads_the_source_and_writes_the_target() -> None:
    got = accesses(
        "s3", "CopyObject", R, {"Bucket": "b", "Key": "rejected/k", "CopySource": {"Bucket": "b", "Key": "uploads/k"}}
    )
    assert got == [("s3:GetObject", "arn:aws:s3:::b/uploads/k"), ("s3:PutObject", "arn:aws:s3:::b/rejected/k")]


def test_a_copy_in_parts_reads_the_source_and_writes_the_target_as_the_source_string_botocore_makes() -> None:
    params = {"Bucket": "b", "Key": "rejected/r/a b.zip", "CopySource": "b/uploads/r/a%20b.zip", "PartNumber": 1}
    assert accesses("s3", "UploadPartCopy", R, params) == [
        ("s3:GetObject", "arn:aws:s3:::b/uploads/r/a b.zip"),
        ("s3:PutObject", "arn:aws:s3:::b/rejected/r/a b.zip"),
    ]


def test_head_object_is_get_object() -> None:
    assert accesses("s3", "HeadObject", R, {"Bucket": "b", "Key": "k"}) == [("s3:GetObject", "arn:aws:s3:::b/k")]


def test_reading_or_deleting_a_named_version_needs_the_version_actions() -> None:
    # GIVEN calls that name a version (a download presigned by version, a hash of the verified version)
    versioned = {"Bucket": "b", "Key": "k", "VersionId": "v1"}
    # THEN IAM authorises them as the *Version actions, which s3:GetObject / s3:DeleteObject do not include
    assert accesses("s3", "GetObject", R, versioned) == [("s3:GetObjectVersion", "arn:aws:s3:::b/k")]
    assert accesses("s3", "HeadObject", R, versioned) == [("s3:GetObjectVersion", "arn:aws:s3:::b/k")]
    assert accesses("s3", "DeleteObject", R, versioned) == [("s3:DeleteObjectVersion", "arn:aws:s3:::b/k")]
    assert accesses("s3", "PutObjectRetention", R, versioned) == [("s3:PutObjectRetention", "arn:aws:s3:::b/k")]
    source = {"Bucket": "b", "Key": "uploads/k", "VersionId": "v1"}
    got = accesses("s3", "CopyObject", R, {"Bucket": "b", "Key": "rejected/k", "CopySource": source})
    assert got[0] == ("s3:GetObjectVersion", "arn:aws:s3:::b/uploads/k")
    # AND the same calls without a version stay the plain actions
    assert accesses("s3", "GetObject", R, {"Bucket": "b", "Key": "k"}) == [("s3:GetObject", "arn:aws:s3:::b/k")]


def test_an_index_query_names_the_index_and_each_part_of_a_transaction_is_its_own_action() -> None:
    table = f"arn:aws:dynamodb:{R}:{ACCOUNT}:table"
    assert accesses("dynamodb", "Query", R, {"TableName": "t", "IndexName": "GSI1"}) == [
        ("dynamodb:Query", f"{table}/t/index/GSI1")
    ]
    items = [{"Put": {"TableName": "t"}}, {"ConditionCheck": {"TableName": "u"}}]
    assert sorted(accesses("dynamodb", "TransactWriteItems", R, {"TransactItems": items})) == [
        ("dynamodb:ConditionCheckItem", f"{table}/u"),
        ("dynamodb:PutItem", f"{table}/t"),
    ]


def test_sesv2_sends_need_ses_send_email_on_the_identity_and_the_configuration_set() -> None:
    got = accesses("sesv2", "SendEmail", R, {"FromEmailAddress": "alerts@example.com", "ConfigurationSetName": "cs"})
    assert got == [
        ("ses:SendEmail", f"arn:aws:ses:{R}:{ACCOUNT}:identity/example.com"),
        ("ses:SendEmail", f"arn:aws:ses:{R}:{ACCOUNT}:configuration-set/cs"),
    ]
