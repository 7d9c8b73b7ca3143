"""Sign-up, login, refresh and profiles over HTTP against `make local`, as a client sees them."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from moto.utilities.utils import load_resource

from tests.e2e.conftest import Api
from tests.stack_runner import RunningStack

pytestmark = pytest.mark.e2e

USER_FIELDS = {"id", "username", "display_name", "bio", "created_at", "follower_count", "following_count", "post_count"}


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def test_health_is_public(api: Api) -> None:
    answer = api.call("GET", "/health")

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_sign_up_log_in_and_read_me(api: Api) -> None:
    name = f"Ann{uuid.uuid4().hex[:8]}"
    created = api.call(
        "POST", "/auth/signup", json={"username": name, "email": "ann@example.com", "password": "s3cret pass"}
    )
    assert created.status_code == 201
    user = created.json()["user"]
    assert set(user) == USER_FIELDS
    assert user["username"] == name.lower()

    login = api.call("POST", "/auth/login", json={"username": name.upper(), "password": "s3cret pass"})
    assert login.status_code == 200
    tokens = login.json()
    assert set(tokens) == {"id_token", "access_token", "refresh_token", "expires_in", "token_type"}
    assert tokens["token_type"] == "Bearer"

    me = api.call("GET", "/me", token=tokens["id_token"])
    assert me.status_code == 200
    assert me.json() == user


def test_a_username_is_taken_whatever_its_case(api: Api) -> None:
    account = api.sign_up()

    again = api.call(
        "POST",
        "/auth/signup",
        json={"username": account.username.upper(), "email": "x@example.com", "password": "another one"},
    )

    assert again.status_code == 409
    assert error_code(again) == "conflict"


def test_racing_sign_ups_for_one_name_leave_exactly_one_user(api: Api, stack: RunningStack) -> None:
    name = f"race{uuid.uuid4().hex[:8]}"

    def attempt(index: int) -> tuple[int, str]:
        password = f"password number {index}"
        answer = Api(stack.api_url).call(
            "POST", "/auth/signup", json={"username": name, "email": f"{index}@example.com", "password": password}
        )
        return answer.status_code, password

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(attempt, range(16)))

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * 15
    winner = next(password for status, password in results if status == 201)
    logins = [
        api.call("POST", "/auth/login", json={"username": name, "password": password}).status_code
        for _, password in results
    ]
    assert logins.count(200) == 1
    assert api.call("POST", "/auth/login", json={"username": name, "password": winner}).status_code == 200
    rows = stack.client("dynamodb").scan(
        TableName=stack.resources["UsersTable"],
        FilterExpression="username = :name",
        ExpressionAttributeValues={":name": {"S": name}},
    )["Items"]
    assert len(rows) == 1
    pool_users = stack.client("cognito-idp").list_users(
        UserPoolId=stack.resources["UserPool"], Filter=f'username = "{name}"'
    )["Users"]
    assert len(pool_users) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "no", "email": "a@example.com", "password": "long enough"}, "username"),
        ({"username": "bad-name!", "email": "a@example.com", "password": "long enough"}, "username"),
        ({"username": "fine_name", "email": "nope", "password": "long enough"}, "email"),
        ({"username": "fine_name", "email": "a@example.com", "password": "short"}, "password"),
        (
            {"username": "fine_name", "email": "a@example.com", "password": "long enough", "follower_count": 9},
            "follower_count",
        ),
    ],
)
def test_sign_up_validation(api: Api, body: dict[str, Any], field: str) -> None:
    answer = api.call("POST", "/auth/signup", json=body)

    assert answer.status_code == 422
    assert error_code(answer) == "validation_error"
    assert field in answer.json()["error"]["message"]


def test_bodies_that_are_not_json(api: Api) -> None:
    broken = api.call("POST", "/auth/login", data="{nope", headers={"Content-Type": "application/json"})
    form = api.call("POST", "/auth/login", data={"username": "a", "password": "b"})

    assert broken.status_code == 400
    assert error_code(broken) == "bad_request"
    assert form.status_code == 415
    assert error_code(form) == "unsupported_media_type"


def test_login_refuses_wrong_passwords_and_unknown_users(api: Api) -> None:
    account = api.sign_up()

    wrong = api.call("POST", "/auth/login", json={"username": account.username, "password": "not the password"})
    unknown = api.call("POST", "/auth/login", json={"username": "nobody_here", "password": "whatever1"})

    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert answer.json() == {"error": {"code": "unauthorized", "message": "invalid username or password"}}


def test_refresh_gives_a_working_id_token(api: Api) -> None:
    account = api.sign_up()

    refreshed = api.call("POST", "/auth/refresh", json={"refresh_token": account.refresh_token})
    bogus = api.call("POST", "/auth/refresh", json={"refresh_token": "not-a-token"})

    assert refreshed.status_code == 200
    assert set(refreshed.json()) == {"id_token", "access_token", "expires_in", "token_type"}
    assert api.call("GET", "/me", token=refreshed.json()["id_token"]).json()["id"] == account.id
    assert bogus.status_code == 401
    assert error_code(bogus) == "unauthorized"


def test_patch_me_changes_only_the_callers_profile(api: Api) -> None:
    alice, bob = api.sign_up(), api.sign_up()

    patched = api.call(
        "PATCH", "/me", json={"display_name": "Alice Liddell", "bio": "Down the hole"}, token=alice.id_token
    )

    assert patched.status_code == 200
    assert patched.json()["display_name"] == "Alice Liddell"
    seen_by_bob = api.call("GET", f"/users/{alice.username}", token=bob.id_token).json()
    assert (seen_by_bob["display_name"], seen_by_bob["bio"]) == ("Alice Liddell", "Down the hole")
    assert api.call("GET", "/me", token=bob.id_token).json()["bio"] == ""


@pytest.mark.parametrize(
    "body", [{"post_count": 100}, {"id": "someone-else"}, {"display_name": "x" * 61}, {"bio": "y" * 301}]
)
def test_patch_me_refuses_server_owned_and_oversized_fields(api: Api, body: dict[str, Any]) -> None:
    account = api.sign_up()

    answer = api.call("PATCH", "/me", json=body, token=account.id_token)

    assert answer.status_code == 422
    assert error_code(answer) == "validation_error"
    me = api.call("GET", "/me", token=account.id_token).json()
    assert (me["post_count"], me["id"], me["display_name"]) == (0, account.id, account.username)


def test_oversized_bodies_are_413(api: Api) -> None:
    account = api.sign_up()

    big = api.call("PATCH", "/me", json={"bio": "x" * 100_000}, token=account.id_token)
    huge = api.call(
        "PATCH",
        "/me",
        data=b"x" * (10 * 1024 * 1024 + 1),
        token=account.id_token,
        headers={"Content-Type": "application/json"},
    )

    assert big.status_code == 413
    assert error_code(big) == "payload_too_large"
    assert huge.status_code == 413
    assert error_code(huge) == "payload_too_large"


def test_users_by_name(api: Api) -> None:
    alice, bob = api.sign_up(), api.sign_up()

    other = api.call("GET", f"/users/{bob.username.upper()}", token=alice.id_token)
    own = api.call("GET", f"/users/{alice.username}", token=alice.id_token)
    missing = api.call("GET", "/users/no_such_person", token=alice.id_token)

    assert other.status_code == 200
    assert other.json()["id"] == bob.id
    assert other.json()["followed_by_me"] is False
    assert set(own.json()) == USER_FIELDS
    assert missing.status_code == 404
    assert error_code(missing) == "not_found"


# ---------------------------------------------------------------------------- tokens
def _moto_signing_key() -> RSAKey:
    """The key the local pool signs with: lets a test make tokens that differ in one claim only."""
    return RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))


def _claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, _moto_signing_key()).claims)


def _sign(claims: dict[str, Any], key: RSAKey) -> str:
    return jwt.encode({"alg": "RS256", "kid": "dummy", "typ": "JWT"}, claims, key)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda claims: _sign(claims, RSAKey.generate_key(2048)), id="signed-by-another-key"),
        pytest.param(lambda claims: _sign({**claims, "exp": int(time.time()) - 5}, _moto_signing_key()), id="expired"),
        pytest.param(lambda claims: _sign({**claims, "aud": "another-client"}, _moto_signing_key()), id="other-client"),
        pytest.param(
            lambda claims: _sign({**claims, "iss": "https://evil.example"}, _moto_signing_key()), id="other-issuer"
        ),
        pytest.param(lambda claims: _sign({**claims, "token_use": "access"}, _moto_signing_key()), id="access-token"),
        pytest.param(lambda claims: "eyJhbGciOiJub25lIn0." + json.dumps(claims).encode().hex() + ".", id="alg-none"),
        pytest.param(lambda claims: "garbage", id="garbage"),
    ],
)
def test_bad_tokens_are_401_and_never_reach_a_handler(api: Api, stack: RunningStack, forge: Any) -> None:
    account = api.sign_up()
    token = forge(_claims_of(account.id_token))
    handled_before = stack.log().count("λ ReadApiFunction ← GET /me")

    answer = api.call("GET", "/me", token=token)

    assert answer.status_code == 401
    assert answer.json() == {"error": {"code": "unauthorized", "message": "missing or invalid token"}}
    assert stack.log().count("λ ReadApiFunction ← GET /me") == handled_before


@pytest.mark.parametrize(("method", "path"), [("GET", "/me"), ("PATCH", "/me"), ("GET", "/users/someone")])
def test_protected_routes_need_a_token(api: Api, method: str, path: str) -> None:
    answer = api.call(method, path, json={} if method == "PATCH" else None)

    assert answer.status_code == 401
    assert error_code(answer) == "unauthorized"


def test_the_access_token_is_not_an_id_token(api: Api) -> None:
    account = api.sign_up()
    access = api.call("POST", "/auth/login", json={"username": account.username, "password": account.password})

    assert api.call("GET", "/me", token=access.json()["access_token"]).status_code == 401


def test_a_token_without_the_bearer_prefix_is_accepted_as_api_gateway_does(api: Api) -> None:
    account = api.sign_up()

    answer = api.call("GET", "/me", headers={"Authorization": account.id_token})

    assert answer.status_code == 200


# ---------------------------------------------------------------------------- the gateway
def test_unknown_routes_and_methods_are_404_in_the_contract_shape(api: Api) -> None:
    for method, path in (("GET", "/nowhere"), ("DELETE", "/health"), ("POST", "/me")):
        answer = api.call(method, path)
        assert answer.status_code == 404, (method, path)
        assert answer.json() == {"error": {"code": "not_found", "message": "no such route"}}


def test_cors_preflight_allows_the_web_app(api: Api, stack: RunningStack) -> None:
    answer = api.call("OPTIONS", "/me")

    assert answer.status_code == 200
    # As on AWS, the API allows the web app's origin (template.yaml's CorsAllowOrigin).
    assert answer.headers["Access-Control-Allow-Origin"] == stack.web_url
    assert "Authorization" in answer.headers["Access-Control-Allow-Headers"]
