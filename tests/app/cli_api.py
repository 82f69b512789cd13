"""patchctl's own API client (``patchcast_tools.cli.common.Api``, token renewal included) over the chalice test
client: a requests transport adapter hands each request to ``Client.http`` instead of the network."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from chalice.test import Client
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from patchcast_tools.cli.common import Api, Credentials

BASE = "http://patchcast.test"


class ChaliceAdapter(BaseAdapter):
    def __init__(self, client: Client) -> None:
        super().__init__()
        self.client = client
        self.statuses: list[tuple[str, int]] = []  # (path, status) of every answer, in order

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:  # type: ignore[override]
        url = urlsplit(str(request.url))
        path = url.path + (f"?{url.query}" if url.query else "")
        body = request.body or b""
        got = self.client.http.request(
            str(request.method),
            path,
            headers=dict(request.headers),
            body=body.encode() if isinstance(body, str) else body,
        )
        resp = requests.Response()
        resp.status_code, resp._content, resp.url, resp.request = got.status_code, got.body, str(request.url), request
        resp.headers = CaseInsensitiveDict(got.headers)
        self.statuses.append((url.path, got.status_code))
        return resp

    def close(self) -> None:
        pass


def cli_api(client: Client, role: str = "release-engineer", credentials: Credentials | None = None) -> Api:
    api = Api(BASE, role, credentials)
    api.http.mount(BASE, ChaliceAdapter(client))
    return api


def adapter(api: Api) -> ChaliceAdapter:
    found = api.http.get_adapter(BASE)
    assert isinstance(found, ChaliceAdapter)
    return found
