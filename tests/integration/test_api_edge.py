"""What reaches the API functions from outside, with API Gateway's event shapes: bodies that are not
JSON text, media types in any case, JSON types taken strictly, percent-encoded paths, a retried
create after its post was deleted, unfollowing yourself, and a deletion seen by every read at once."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import redis

from photofeed import wiring
from photofeed.storage.feed_store import CachedPost
from tests.conftest import LocalAws, api_event, load_event, set_body
from tests.integration.feed_world import World
from tests.integration.helpers import call, route, sign_up

# The eight routes that take a body: (sample event, function).
BODY_ROUTES = {
    "signup": ("api_signup.json", "AuthFunction"),
    "login": ("api_login.json", "AuthFunction"),
    "refresh": ("api_refresh.json", "AuthFunction"),
    "update_me": ("api_patch_me.json", "WriteApiFunction"),
    "create_post": ("api_create_post.json", "WriteApiFunction"),
    "create_comment": ("api_create_comment.json", "WriteApiFunction"),
    "register_device": ("api_register_device.json", "WriteApiFunction"),
    "mark_read": ("api_mark_notifications_read.json", "WriteApiFunction"),
}

# Each way a body can fail to be JSON text, as the bytes a client sends.
NOT_JSON_TEXT = {
    "not UTF-8": b'{"username":"\xff","password":"x"}',
    "invalid JSON": b'{"username": "a",',
    "NaN": b'{"content_length": NaN, "title": "x"}',
    "a number too long": b'{"content_length": ' + b"9" * 5000 + b"}",
    "nested too deep": b'{"ids": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "a lone surrogate": b'{"text": "\\ud800", "title": "\\udc00", "username": "\\udfff"}',
}


@pytest.fixture
def alice(local_aws: LocalAws, lambda_context: Any) -> dict[str, Any]:
    return sign_up(local_aws, lambda_context, "alice")


def body_event(sample: str, sub: str, data: bytes, content_type: str | None = "application/json") -> dict[str, Any]:
    """The event API Gateway sends for a body of these bytes with this Content-Type (none: the
    header left out)."""
    event = api_event(sample, headers={"Content-Type": content_type} if content_type else {})
    if content_type is None:
        event["headers"].pop("Content-Type", None)
        event["multiValueHeaders"].pop("Content-Type", None)
    if event["requestContext"].get("authorizer"):
        event["requestContext"]["authorizer"]["claims"]["sub"] = sub
    set_body(event, data)
    return event


def sample_body(sample: str) -> bytes:
    event = load_event(sample)
    return base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()


def test_a_body_that_is_not_json_text_is_400_on_every_route_that_takes_one(
    local_aws: LocalAws, lambda_context: Any, alice: dict[str, Any]
) -> None:
    answers = {}
    for name, (sample, function) in BODY_ROUTES.items():
        for kind, data in NOT_JSON_TEXT.items():
            status, body = call(local_aws, function, body_event(sample, alice["id"], data), lambda_context)
            answers[name, kind] = (status, body.get("error", {}).get("code"))

    wrong = {where: answer for where, answer in answers.items() if answer != (400, "bad_request")}
    assert not wrong, wrong


@pytest.mark.parametrize(
    "content_type", ["Application/JSON", "APPLICATION/JSON; Charset=UTF-8", "application/json;charset=utf8"]
)
def test_media_types_are_case_insensitive(
    local_aws: LocalAws, lambda_context: Any, alice: dict[str, Any], content_type: str
) -> None:
    """Each route answers a body sent as `content_type` as it answers the same body sent as
    `application/json` (a validation error for a sample it refuses, the same success otherwise)."""
    wrong = {}
    for name, (sample, function) in BODY_ROUTES.items():
        data = sample_body(sample)
        # Each body twice, so a write that succeeds once (a sign-up) meets the same answer again.
        canonical = call(local_aws, function, body_event(sample, alice["id"], data), lambda_context)
        status, body = call(local_aws, function, body_event(sample, alice["id"], data, content_type), lambda_context)
        again = call(local_aws, function, body_event(sample, alice["id"], data), lambda_context)[0]
        if status in (415, 500) or status != again:
            wrong[name] = (canonical[0], status, again, body)
    assert not wrong, wrong


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"]
)
def test_other_media_types_and_charsets_are_415(
    local_aws: LocalAws, lambda_context: Any, alice: dict[str, Any], content_type: str
) -> None:
    event = body_event("api_patch_me.json", alice["id"], b'{"bio": "x"}', content_type)
    status, body = call(local_aws, "WriteApiFunction", event, lambda_context)

    assert status == 415
    assert body["error"]["code"] == "unsupported_media_type"


def test_a_missing_content_type_is_read_as_json(
    local_aws: LocalAws, lambda_context: Any, alice: dict[str, Any]
) -> None:
    event = body_event("api_patch_me.json", alice["id"], b'{"bio": "no header"}', None)
    status, body = call(local_aws, "WriteApiFunction", event, lambda_context)

    assert (status, body["bio"]) == (200, "no header")


LAX_VALUES = {
    "create_post": [
        {"title": "x", "content_type": "image/jpeg", "content_length": True},
        {"title": "x", "content_type": "image/jpeg", "content_length": "12"},
        {"title": "x", "content_type": "image/jpeg", "content_length": 12.0},
    ],
    "mark_read": [{"all": 1}, {"all": "true"}],
    "update_me": [{"bio": b"x".decode(), "display_name": 5}],
    "register_device": [{"platform": "GCM", "token": 1234567890123}],
    "signup": [{"username": "carol", "email": "c@example.com", "password": 12345678}],
}


def test_json_types_are_strict(local_aws: LocalAws, lambda_context: Any, alice: dict[str, Any]) -> None:
    answers = {}
    for name, bodies in LAX_VALUES.items():
        sample, function = BODY_ROUTES[name]
        for body in bodies:
            event = body_event(sample, alice["id"], json.dumps(body).encode())
            status, answer = call(local_aws, function, event, lambda_context)
            answers[name, json.dumps(body)] = (status, answer.get("error", {}).get("code"))

    wrong = {where: answer for where, answer in answers.items() if answer != (422, "validation_error")}
    assert not wrong, wrong


def test_a_percent_encoded_path_names_the_same_resource(
    local_aws: LocalAws, lambda_context: Any, alice: dict[str, Any]
) -> None:
    bob = sign_up(local_aws, lambda_context, "bob_smith")
    # API Gateway's REST event keeps `path` encoded and hands `pathParameters` decoded.
    for path in ("/users/bob%5Fsmith", "/users/bob%5fsmith", "/users/%62%6F%62%5F%73%6D%69%74%68"):
        status, body = route(
            local_aws,
            lambda_context,
            "api_get_user.json",
            alice,
            path=path,
            path_parameters={"username": "bob_smith"},
        )
        assert (status, body.get("id")) == (200, bob["id"]), path


def test_the_length_limit_counts_the_decoded_parameter(
    local_aws: LocalAws, lambda_context: Any, alice: dict[str, Any]
) -> None:
    name = "a_" * 15  # 30 characters, 90 when every one is percent-encoded
    sign_up(local_aws, lambda_context, name)
    encoded = "".join(f"%{ord(char):02X}" for char in name)

    status, body = route(
        local_aws,
        lambda_context,
        "api_get_user.json",
        alice,
        path=f"/users/{encoded}",
        path_parameters={"username": name},
    )

    assert (status, body.get("username")) == (200, name)


def test_a_post_id_percent_encoded_reaches_the_post(local_aws: LocalAws, lambda_context: Any) -> None:
    world = World(local_aws, lambda_context)
    post = world.publish("alice")
    encoded = "".join(f"%{ord(char):02x}" for char in post)

    status, body = route(
        local_aws,
        lambda_context,
        "api_get_post.json",
        world.user("alice"),
        path=f"/posts/{encoded}",
        path_parameters={"post_id": post},
    )

    assert (status, body.get("id")) == (200, post)


def test_a_create_replayed_after_its_post_was_deleted_is_a_conflict(
    local_aws: LocalAws, lambda_context: Any, alice: dict[str, Any]
) -> None:
    new_post = {"title": "Harbour", "content_type": "image/jpeg", "content_length": 1000}
    headers = {"Idempotency-Key": "replay-after-delete-1"}
    status, created = route(local_aws, lambda_context, "api_create_post.json", alice, body=new_post, headers=headers)
    assert status == 201
    post_id = created["post"]["id"]
    path = f"/posts/{post_id}"
    assert (
        route(
            local_aws, lambda_context, "api_delete_post.json", alice, path=path, path_parameters={"post_id": post_id}
        )[0]
        == 204
    )

    status, body = route(local_aws, lambda_context, "api_create_post.json", alice, body=new_post, headers=headers)

    assert status == 409, body
    assert body["error"]["code"] == "conflict"


def test_an_idempotency_key_that_is_not_visible_ascii_is_422(
    local_aws: LocalAws, lambda_context: Any, alice: dict[str, Any]
) -> None:
    new_post = {"title": "Harbour", "content_type": "image/jpeg", "content_length": 1000}
    status, body = route(
        local_aws,
        lambda_context,
        "api_create_post.json",
        alice,
        body=new_post,
        headers={"Idempotency-Key": "two words"},
    )

    assert status == 422
    assert "Idempotency-Key" in body["error"]["message"] or "idempotency" in body["error"]["message"].lower()


def test_unfollowing_yourself_has_nothing_to_undo(
    local_aws: LocalAws, lambda_context: Any, alice: dict[str, Any]
) -> None:
    status, body = route(
        local_aws,
        lambda_context,
        "api_unfollow.json",
        alice,
        path="/users/alice/follow",
        path_parameters={"username": "alice"},
    )
    assert status == 204, body
    status, body = route(local_aws, lambda_context, "api_get_me.json", alice)
    assert (body["following_count"], body["follower_count"]) == (0, 0)


# ---------------------------------------------------------------- a deletion is seen at once
@pytest.fixture
def world(local_aws: LocalAws, lambda_context: Any) -> World:
    return World(local_aws, lambda_context)


def profile_posts(world: World, reader: str, author: str) -> list[str]:
    username = world.user(author)["username"]
    status, page = route(
        world.local_aws,
        world.ctx,
        "api_get_user_posts.json",
        world.user(reader),
        path=f"/users/{username}/posts",
        path_parameters={"username": username},
    )
    assert status == 200, page
    return [item["id"] for item in page["items"]]


def test_a_deleted_post_leaves_warm_feeds_and_lists_the_moment_delete_answers(world: World) -> None:
    world.follow("bob", "alice")
    kept, deleted = world.publish("alice", "kept"), world.publish("alice", "deleted")
    world.settle()
    assert world.feed("bob") == [deleted, kept]  # warm: both posts are in the post cache now
    assert world.feed("alice") == [deleted, kept]
    assert profile_posts(world, "bob", "alice") == [deleted, kept]

    assert world.delete("alice", deleted) == 204  # no settle: the stream's clean-up has not run

    assert world.feed("bob") == [kept]
    assert world.feed("alice") == [kept]
    assert profile_posts(world, "bob", "alice") == [kept]


def test_a_deleted_post_leaves_merged_timelines_at_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELEBRITY_THRESHOLD", "1")
    wiring.reset()
    for fan in ("bob", "carol"):
        world.follow(fan, "star")  # 2 > 1: readers merge the star's timeline
    world.settle()
    kept, deleted = world.publish("star", "kept"), world.publish("star", "deleted")
    world.settle()
    assert world.feed("bob") == [deleted, kept]

    world.delete("star", deleted)

    assert world.feed("bob") == [kept]
    assert world.feed("carol") == [kept]


def test_a_reader_that_read_a_post_before_its_deletion_cannot_cache_it_back(world: World) -> None:
    post = world.publish("alice")
    store = wiring.feed_store()
    store.forget_post(post)  # the deletion's tombstone

    # ... then a reader that read the post from DynamoDB a moment before writes what it read:
    store.cache_posts([CachedPost(post, world.user("alice")["id"], "published", '{"id":"x"', 0, 0)])

    assert store.deleted_among([post]) == {post}


def test_with_redis_down_lists_check_statuses_in_dynamodb(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Indexes lag their table on AWS (not in moto): lists read there confirm statuses consistently."""
    kept, deleted = world.publish("alice", "kept"), world.publish("alice", "deleted")
    world.settle()
    rows = wiring.post_repository().many([deleted, kept])
    world.delete("alice", deleted)
    stale = [rows[deleted], rows[kept]]  # what a lagging index would still answer
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    wiring.reset()

    from photofeed.services.posts import still_published

    assert [row.id for row in still_published(stale, wiring.post_repository(), wiring.feed_store())] == [kept]


def test_the_tombstone_is_what_lists_check_while_redis_is_up(world: World, redis_url: str) -> None:
    kept, deleted = world.publish("alice", "kept"), world.publish("alice", "deleted")
    world.settle()
    rows = wiring.post_repository().many([deleted, kept])
    world.delete("alice", deleted)
    assert redis.Redis.from_url(redis_url).hget(f"post:{deleted}", "s") == b"deleted"

    from photofeed.services.posts import still_published

    stale = [rows[deleted], rows[kept]]
    assert [row.id for row in still_published(stale, wiring.post_repository(), wiring.feed_store())] == [kept]


def cors_origin(response: dict[str, Any]) -> str | None:
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    multi = {k.lower(): v for k, v in (response.get("multiValueHeaders") or {}).items()}
    value = headers.get("access-control-allow-origin") or (multi.get("access-control-allow-origin") or [None])[0]
    return str(value) if value is not None else None


def test_every_answer_carries_the_cors_headers_errors_included(
    local_aws: LocalAws, lambda_context: Any, alice: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A browser hides an answer without Access-Control-Allow-Origin from the web app: a refused
    login or a taken username would read as "can't reach the server". So errors carry it too."""
    signup = {"username": "alice", "email": "alice@example.com", "password": "correct horse"}
    cases: dict[str, tuple[str, dict[str, Any]]] = {
        "200": ("ReadApiFunction", api_event("api_get_me.json")),
        "400": ("AuthFunction", body_event("api_login.json", alice["id"], b"{")),
        "401": ("AuthFunction", api_event("api_refresh.json", body={"refresh_token": "revoked"})),
        "404": ("ReadApiFunction", api_event("api_get_user.json", path_parameters={"username": "nobody"})),
        "409": ("AuthFunction", api_event("api_signup.json", body=signup)),
        "415": ("WriteApiFunction", body_event("api_patch_me.json", alice["id"], b"{}", "text/plain")),
        "422": ("AuthFunction", api_event("api_login.json", body={"username": "alice"})),
    }
    cases["200"][1]["requestContext"]["authorizer"]["claims"]["sub"] = alice["id"]
    answers = {}
    for expected, (function, event) in cases.items():
        response = local_aws.handler(function)(event, lambda_context)
        answers[expected] = (response["statusCode"], cors_origin(response))

    # And a fault nobody foresaw (500).
    from photofeed.services.accounts import AccountService

    def broken(*_: Any) -> None:
        raise RuntimeError("a fault nobody foresaw")

    monkeypatch.setattr(AccountService, "log_in", broken)
    login = {"username": "alice", "password": "correct horse"}
    response = local_aws.handler("AuthFunction")(api_event("api_login.json", body=login), lambda_context)
    answers["500"] = (response["statusCode"], cors_origin(response))

    assert answers == {status: (int(status), "*") for status in answers}
