"""patchctl's token renewal in AWS, against moto's Cognito: a refresh token and the app client id give a new
ID token (REFRESH_TOKEN_AUTH, unsigned: the CLI needs no AWS credentials), and a refused one is one line."""

from __future__ import annotations

import boto3
import jwt
import pytest

from infra.template import resources
from patchcast_tools.cli.common import CliError, Credentials


def _pool_client_and_refresh_token() -> tuple[str, str]:
    """A user pool and app client configured as infra/template.py's, a release engineer, and their refresh token."""
    idp = boto3.client("cognito-idp", region_name="us-east-1")
    props = resources("local")["UserPoolClient"]["Properties"]
    pool = idp.create_user_pool(PoolName="patchcast-test-users", UsernameAttributes=["email"])["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool,
        ClientName=props["ClientName"],
        GenerateSecret=False,
        ExplicitAuthFlows=props["ExplicitAuthFlows"],
    )["UserPoolClient"]["ClientId"]
    user, password = "rel@example.com", "Correct-Horse-Battery-1"
    idp.admin_create_user(UserPoolId=pool, Username=user, UserAttributes=[{"Name": "email", "Value": user}])
    idp.admin_set_user_password(UserPoolId=pool, Username=user, Password=password, Permanent=True)
    signed_in = idp.initiate_auth(
        ClientId=client, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": user, "PASSWORD": password}
    )
    return client, signed_in["AuthenticationResult"]["RefreshToken"]


def test_a_refresh_token_renews_the_id_token_through_cognito(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    client, refresh = _pool_client_and_refresh_token()
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)  # an engineer's laptop may have no AWS credentials at all
    creds = Credentials(
        "release-engineer",
        {"PATCHCAST_TOKEN": "expired", "PATCHCAST_REFRESH_TOKEN": refresh, "PATCHCAST_CLIENT_ID": client},
    )
    assert creds.token() == "expired"
    claims = jwt.decode(creds.renew(), options={"verify_signature": False})
    assert claims["token_use"] == "id" and claims["aud"] == client
    assert creds.token() != "expired"


def test_a_refused_refresh_token_is_one_line_saying_sign_in_again(moto_server: str) -> None:
    client, _ = _pool_client_and_refresh_token()
    creds = Credentials("release-engineer", {"PATCHCAST_REFRESH_TOKEN": "not-a-token", "PATCHCAST_CLIENT_ID": client})
    with pytest.raises(CliError, match="sign in again"):
        creds.renew()
