"""`make local` keeps its data between runs (users, profiles, tokens, Redis), or starts empty."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.e2e.conftest import Api
from tests.stack_runner import running_stack

pytestmark = pytest.mark.e2e


def test_state_survives_a_restart_and_reset_forgets_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with running_stack(state, keep_state=True) as first:
        api = Api(first.api_url)
        account = api.sign_up("keeper")
        assert api.call("PATCH", "/me", json={"bio": "still here"}, token=account.id_token).status_code == 200
        redis.Redis.from_url(first.redis_url).set("feed:probe", "kept")
        process = first.process
    assert process.wait(timeout=30) == 0  # a clean stop, which is when the state is saved
    assert "state saved: " in first.log()

    with running_stack(state, keep_state=True) as second:
        api = Api(second.api_url)
        me = api.call("GET", "/me", token=account.id_token)  # the token from before the restart
        assert me.status_code == 200
        assert (me.json()["id"], me.json()["bio"]) == (account.id, "still here")
        login = api.call("POST", "/auth/login", json={"username": "keeper", "password": account.password})
        assert login.status_code == 200
        assert (
            api.call(
                "POST",
                "/auth/signup",
                json={"username": "keeper", "email": "k@example.com", "password": "another pass"},
            ).status_code
            == 409
        )
        assert redis.Redis.from_url(second.redis_url).get("feed:probe") == b"kept"

    with running_stack(state, reset=True) as third:
        api = Api(third.api_url)
        login = api.call("POST", "/auth/login", json={"username": "keeper", "password": account.password})
        assert login.status_code == 401
        assert api.sign_up("keeper").username == "keeper"
