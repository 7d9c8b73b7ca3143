"""The auth, read and write functions in-process on moto, driven with the sample events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import LocalAws, api_event
from tests.integration.helpers import call, sign_up


def test_sign_up_creates_a_user_with_the_contract_fields(local_aws: LocalAws, lambda_context: Any) -> None:
    user = sign_up(local_aws, lambda_context, "Alice_1")

    assert user["username"] == "alice_1"  # case-normalised
    assert set(user) == {
        "id",
        "username",
        "display_name",
        "bio",
        "created_at",
        "follower_count",
        "following_count",
        "post_count",
    }
    assert user["created_at"].endswith("Z")
    assert len(user["created_at"]) == 24
    assert (user["follower_count"], user["following_count"], user["post_count"]) == (0, 0, 0)


def test_a_taken_username_is_a_conflict_whatever_its_case(local_aws: LocalAws, lambda_context: Any) -> None:
    sign_up(local_aws, lambda_context, "alice")

    event = api_event("api_signup.json", body={"username": "ALICE", "email": "x@example.com", "password": "another pw"})
    status, body = call(local_aws, "AuthFunction", event, lambda_context)

    assert status == 409
    assert body["error"]["code"] == "conflict"


def test_a_failed_sign_up_gives_the_username_back(local_aws: LocalAws, lambda_context: Any) -> None:
    """Cognito refuses the password after the name was claimed: the claim must not linger."""
    pool = local_aws.template.refs["UserPool"]
    policy = local_aws.template.resolve(local_aws.template.resources["UserPool"]["Properties"]["Policies"])
    strict = {"PasswordPolicy": {**policy["PasswordPolicy"], "MinimumLength": 20}}
    local_aws.aws("cognito-idp").update_user_pool(UserPoolId=pool, Policies=strict)
    event = api_event(
        "api_signup.json", body={"username": "carol", "email": "c@example.com", "password": "short-ish pw"}
    )
    status, body = call(local_aws, "AuthFunction", event, lambda_context)
    assert status == 422
    assert "password" in body["error"]["message"]

    local_aws.aws("cognito-idp").update_user_pool(UserPoolId=pool, Policies=policy)
    assert sign_up(local_aws, lambda_context, "carol")["username"] == "carol"


def test_a_sign_up_that_crashed_after_cognito_does_not_block_the_name(local_aws: LocalAws, lambda_context: Any) -> None:
    """A pool user left behind with no profile (a crash between the two writes) is replaced."""
    local_aws.aws("cognito-idp").sign_up(
        ClientId=local_aws.template.refs["UserPoolClient"],
        Username="dave",
        Password="old password",
        UserAttributes=[{"Name": "email", "Value": "d@example.com"}],
    )
    user = sign_up(local_aws, lambda_context, "dave", password="new password")

    status, tokens = call(
        local_aws,
        "AuthFunction",
        api_event("api_login.json", body={"username": "dave", "password": "new password"}),
        lambda_context,
    )
    assert status == 200
    assert user["username"] == "dave"
    assert tokens["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "ab", "email": "a@example.com", "password": "long enough"}, "username"),
        ({"username": "has space", "email": "a@example.com", "password": "long enough"}, "username"),
        ({"username": "a" * 31, "email": "a@example.com", "password": "long enough"}, "username"),
        ({"username": "alice", "email": "not-an-email", "password": "long enough"}, "email"),
        ({"username": "alice", "email": "a@example.com", "password": "short"}, "password"),
        ({"username": "alice", "email": "a@example.com", "password": "x" * 129}, "password"),
        ({"username": "alice", "email": "a@example.com", "password": "long enough", "id": "mine"}, "id"),
        ({"username": "alice", "email": "a@example.com"}, "password"),
    ],
)
def test_sign_up_rejects_bad_fields_with_422(
    local_aws: LocalAws, lambda_context: Any, body: dict[str, Any], field: str
) -> None:
    status, answer = call(local_aws, "AuthFunction", api_event("api_signup.json", body=body), lambda_context)

    assert status == 422
    assert answer["error"]["code"] == "validation_error"
    assert field in answer["error"]["message"]


def test_login_and_refresh_answer_tokens(local_aws: LocalAws, lambda_context: Any) -> None:
    sign_up(local_aws, lambda_context, "erin")

    status, tokens = call(
        local_aws,
        "AuthFunction",
        api_event("api_login.json", body={"username": "Erin", "password": "correct horse"}),
        lambda_context,
    )
    assert status == 200
    assert set(tokens) == {"id_token", "access_token", "refresh_token", "expires_in", "token_type"}
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] > 0

    status, refreshed = call(
        local_aws,
        "AuthFunction",
        api_event("api_refresh.json", body={"refresh_token": tokens["refresh_token"]}),
        lambda_context,
    )
    assert status == 200
    assert set(refreshed) == {"id_token", "access_token", "expires_in", "token_type"}


@pytest.mark.parametrize(
    "body",
    [{"username": "erin", "password": "wrong password"}, {"username": "nobody", "password": "correct horse"}],
)
def test_login_with_bad_credentials_is_401(local_aws: LocalAws, lambda_context: Any, body: dict[str, str]) -> None:
    sign_up(local_aws, lambda_context, "erin")

    status, answer = call(local_aws, "AuthFunction", api_event("api_login.json", body=body), lambda_context)

    assert status == 401
    assert answer == {"error": {"code": "unauthorized", "message": "invalid username or password"}}


def test_a_bad_refresh_token_is_401(local_aws: LocalAws, lambda_context: Any) -> None:
    status, answer = call(local_aws, "AuthFunction", api_event("api_refresh.json"), lambda_context)

    assert status == 401
    assert answer["error"]["code"] == "unauthorized"


def test_me_reads_and_patch_updates_the_caller_only(local_aws: LocalAws, lambda_context: Any) -> None:
    alice = sign_up(local_aws, lambda_context, "alice")
    bob = sign_up(local_aws, lambda_context, "bob")

    status, patched = call(
        local_aws,
        "WriteApiFunction",
        api_event("api_patch_me.json", body={"display_name": "Alice L.", "bio": "rabbits"}, sub=alice["id"]),
        lambda_context,
    )
    assert status == 200
    assert (patched["display_name"], patched["bio"]) == ("Alice L.", "rabbits")

    status, me = call(local_aws, "ReadApiFunction", api_event("api_get_me.json", sub=alice["id"]), lambda_context)
    assert status == 200
    assert me == patched
    status, other = call(local_aws, "ReadApiFunction", api_event("api_get_me.json", sub=bob["id"]), lambda_context)
    assert other["display_name"] == "bob"
    assert other["bio"] == ""


def test_patch_me_only_takes_the_two_editable_fields(local_aws: LocalAws, lambda_context: Any) -> None:
    alice = sign_up(local_aws, lambda_context, "alice")

    for body in ({"follower_count": 10}, {"username": "mallory"}, {"display_name": "x" * 61}, {"bio": "y" * 301}):
        status, answer = call(
            local_aws, "WriteApiFunction", api_event("api_patch_me.json", body=body, sub=alice["id"]), lambda_context
        )
        assert status == 422, body
        assert answer["error"]["code"] == "validation_error"

    status, me = call(local_aws, "ReadApiFunction", api_event("api_get_me.json", sub=alice["id"]), lambda_context)
    assert (me["username"], me["follower_count"], me["display_name"]) == ("alice", 0, "alice")


def test_get_user_by_name_tells_followed_by_me_only_of_others(local_aws: LocalAws, lambda_context: Any) -> None:
    alice = sign_up(local_aws, lambda_context, "alice")
    bob = sign_up(local_aws, lambda_context, "bob")

    event = api_event("api_get_user.json", sub=alice["id"], path_parameters={"username": "BOB"}, path="/users/BOB")
    status, seen = call(local_aws, "ReadApiFunction", event, lambda_context)
    assert status == 200
    assert seen["id"] == bob["id"]
    assert seen["followed_by_me"] is False

    event = api_event("api_get_user.json", sub=alice["id"], path_parameters={"username": "alice"}, path="/users/alice")
    status, own = call(local_aws, "ReadApiFunction", event, lambda_context)
    assert status == 200
    assert "followed_by_me" not in own


def test_unknown_user_is_404(local_aws: LocalAws, lambda_context: Any) -> None:
    event = api_event("api_get_user.json", path_parameters={"username": "ghost"}, path="/users/ghost")
    status, answer = call(local_aws, "ReadApiFunction", event, lambda_context)

    assert status == 404
    assert answer["error"]["code"] == "not_found"


def test_requests_without_authorizer_claims_never_reach_the_data(local_aws: LocalAws, lambda_context: Any) -> None:
    """Defence in depth: if a route lost its authorizer, the handler still refuses."""
    event = api_event("api_get_me.json")
    event["requestContext"].pop("authorizer")
    status, answer = call(local_aws, "ReadApiFunction", event, lambda_context)

    assert status == 401
    assert answer["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("raw_body", "headers", "status", "code"),
    [
        ("{not json", {}, 400, "bad_request"),
        ('{"bio": "x"}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        ('{"bio": "x"}', {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
        (json.dumps({"bio": "x" * 70_000}), {}, 413, "payload_too_large"),
        ("[1, 2]", {}, 422, "validation_error"),
    ],
)
def test_malformed_bodies_get_clear_errors(
    local_aws: LocalAws, lambda_context: Any, raw_body: str, headers: dict[str, str], status: int, code: str
) -> None:
    alice = sign_up(local_aws, lambda_context, "alice")
    event = api_event("api_patch_me.json", raw_body=raw_body, sub=alice["id"], headers=headers)

    got, answer = call(local_aws, "WriteApiFunction", event, lambda_context)

    assert (got, answer["error"]["code"]) == (status, code)


def test_an_unexpected_failure_is_500_without_a_stack_trace(
    local_aws: LocalAws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from photofeed.services.profiles import ProfileService

    def explode(self: Any, caller_id: str) -> None:
        raise RuntimeError("database on fire at /srv/secret/path.py line 12")

    monkeypatch.setattr(ProfileService, "me", explode)
    response = local_aws.handler("ReadApiFunction")(api_event("api_get_me.json"), lambda_context)

    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == {"error": {"code": "internal", "message": "internal error"}}
    assert "Traceback" not in response["body"]
    assert "secret" not in response["body"]


def test_health_is_public_and_ok(local_aws: LocalAws, lambda_context: Any) -> None:
    status, body = call(local_aws, "ReadApiFunction", api_event("api_health.json"), lambda_context)

    assert (status, body) == (200, {"status": "ok"})


def test_responses_carry_cors_headers(local_aws: LocalAws, lambda_context: Any) -> None:
    response = local_aws.handler("ReadApiFunction")(api_event("api_health.json"), lambda_context)

    headers = {key.lower(): value for key, value in (response.get("headers") or {}).items()}
    multi = {key.lower(): value for key, value in (response.get("multiValueHeaders") or {}).items()}
    origin = headers.get("access-control-allow-origin") or (multi.get("access-control-allow-origin") or [None])[0]
    assert origin == "*"
