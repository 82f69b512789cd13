"""The packages bucket keeps every version with Object Lock on, and no function may undo a lock: the rules
that make a released build unchangeable, read from infra/template.py and the functions' policies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra.template import template

POLICIES = sorted((Path(__file__).parents[2] / ".chalice").glob("policy-*.json"))
# Actions that would let a function remove or rewrite a locked build, or take the lock off the bucket.
UNLOCKING = {
    "s3:BypassGovernanceRetention", "s3:DeleteObjectVersion", "s3:PutObjectLegalHold", "s3:PutBucketVersioning",
    "s3:PutBucketObjectLockConfiguration", "s3:PutLifecycleConfiguration", "s3:*",
}  # fmt: skip


def _bucket() -> dict[str, Any]:
    resources = template("prod")["Resources"]
    return dict(resources["PackagesBucket"]["Properties"])


def test_the_packages_bucket_is_versioned_with_object_lock_enabled_at_creation() -> None:
    props = _bucket()
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["ObjectLockEnabled"] is True
    # No default retention: uploads awaiting verification and rejected ones must stay removable; a build is
    # locked by verification itself (PutObjectRetention on the version it hashed).
    assert "Rule" not in props["ObjectLockConfiguration"]


def test_versions_no_longer_current_expire_but_lifecycle_cannot_touch_a_locked_build() -> None:
    rules = {r["Id"]: r for r in _bucket()["LifecycleConfiguration"]["Rules"]}
    assert rules["noncurrent-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}


def test_no_function_may_bypass_a_lock_or_delete_a_version() -> None:
    assert POLICIES, "no .chalice/policy-*.json found"
    for path in POLICIES:
        for statement in json.loads(path.read_text())["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not UNLOCKING & set(actions), (path.name, statement.get("Sid"))
