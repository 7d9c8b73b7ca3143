"""End-to-end fixtures: the real template served by the local stack, and an HTTP client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.stack_runner import ROOT, RunningStack, running_stack

WEB_DIST = ROOT / "web" / "dist"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The real template served as `make local` serves it, the web app (web/dist) included."""
    with running_stack(tmp_path_factory.mktemp("stack"), web_dir=WEB_DIST) as running:
        yield running


@dataclass
class Account:
    id: str
    username: str
    password: str
    id_token: str
    refresh_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.id_token}"}


class Api:
    """A client as an app would write it: JSON in and out, bearer tokens."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        data: Any = None,
    ) -> requests.Response:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.base_url + path, json=json, data=data, headers=all_headers, timeout=30)

    def sign_up(self, username: str | None = None, password: str = "correct horse battery") -> Account:
        username = username or f"u{uuid.uuid4().hex[:12]}"
        created = self.call(
            "POST",
            "/auth/signup",
            json={"username": username, "email": f"{username}@example.com", "password": password},
        )
        assert created.status_code == 201, created.text
        tokens = self.call("POST", "/auth/login", json={"username": username, "password": password})
        assert tokens.status_code == 200, tokens.text
        body = tokens.json()
        return Account(
            created.json()["user"]["id"], username.lower(), password, body["id_token"], body["refresh_token"]
        )


@pytest.fixture(scope="session")
def api(stack: RunningStack) -> Api:
    return Api(stack.api_url)
