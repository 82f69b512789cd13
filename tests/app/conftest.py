from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from chalice.test import Client


@pytest.fixture(scope="session")
def app_client(wired: object) -> Iterator[Client]:
    import app as app_module

    with Client(app_module.app, stage_name="local") as client:
        yield client


@pytest.fixture(scope="session")
def runner(wired: object) -> Any:
    """The local event runner, driven synchronously (``pump``) instead of by threads."""
    import app as app_module
    from patchcast_tools.local.runner import Runner

    return Runner(app_module.app, boto3.session.Session(region_name="us-east-1"))
