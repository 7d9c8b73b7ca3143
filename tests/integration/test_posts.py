"""POST /posts and the presigned upload it answers; who sees and who may delete a post."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import LocalAws
from tests.integration.helpers import route, sign_up

NEW_POST = {"title": "Harbour", "caption": "at dusk", "content_type": "image/jpeg", "content_length": 123_456}


def create(
    local_aws: LocalAws, ctx: Any, author: dict, body: dict | None = None, key: str | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Idempotency-Key": key} if key else None
    return route(local_aws, ctx, "api_create_post.json", author, body=body or NEW_POST, headers=headers)


def test_create_post_answers_the_post_and_a_presigned_post_pinned_by_its_policy(
    local_aws: LocalAws, lambda_context: Any
) -> None:
    alice = sign_up(local_aws, lambda_context, "alice")
    before = time.time()

    status, created = create(local_aws, lambda_context, alice)

    assert status == 201
    post, upload = created["post"], created["upload"]
    assert post["status"] == "pending_upload"
    assert post["author"] == {"id": alice["id"], "username": "alice", "display_name": "alice"}
    assert (post["media"], post["like_count"], post["comment_count"], post["liked_by_me"]) == (None, 0, 0, False)
    assert upload["method"] == "POST"
    assert upload["expires_in"] <= 300
    fields = upload["fields"]
    assert fields["key"] == f"uploads/{alice['id']}/{post['id']}"
    assert fields["Content-Type"] == "image/jpeg"
    # moto does not enforce the policy: read it and check every condition S3 will enforce.
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert {"bucket": local_aws.template.refs["UploadsBucket"]} in conditions
    assert {"key": fields["key"]} in conditions
    assert {"Content-Type": "image/jpeg"} in conditions
    assert ["content-length-range", 1, 123_456] in conditions
    expires = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    assert before + 290 <= expires <= time.time() + 300


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"content_type": "image/gif"}, 415, "unsupported_media_type"),
        ({"content_type": "image/svg+xml"}, 415, "unsupported_media_type"),
        ({"content_length": 20 * 1024 * 1024 + 1}, 413, "payload_too_large"),
        ({"content_length": 0}, 422, "validation_error"),
        ({"title": ""}, 422, "validation_error"),
        ({"title": "   "}, 422, "validation_error"),
        ({"title": "x" * 121}, 422, "validation_error"),
        ({"caption": "y" * 2201}, 422, "validation_error"),
        ({"status": "published"}, 422, "validation_error"),
        ({"author_id": "someone"}, 422, "validation_error"),
        ({"like_count": 99}, 422, "validation_error"),
    ],
)
def test_create_post_refuses_bad_requests(
    local_aws: LocalAws, lambda_context: Any, change: dict[str, Any], status: int, code: str
) -> None:
    alice = sign_up(local_aws, lambda_context, "alice")

    got, body = create(local_aws, lambda_context, alice, {**NEW_POST, **change})

    assert (got, body["error"]["code"]) == (status, code)


def test_the_largest_allowed_upload_is_20_mib(local_aws: LocalAws, lambda_context: Any) -> None:
    alice = sign_up(local_aws, lambda_context, "alice")

    status, _ = create(local_aws, lambda_context, alice, {**NEW_POST, "content_length": 20 * 1024 * 1024})

    assert status == 201


def test_the_same_idempotency_key_returns_the_same_post(local_aws: LocalAws, lambda_context: Any) -> None:
    alice, bob = sign_up(local_aws, lambda_context, "alice"), sign_up(local_aws, lambda_context, "bob")

    first = create(local_aws, lambda_context, alice, key="key-1")[1]["post"]
    again = create(local_aws, lambda_context, alice, key="key-1")[1]["post"]
    other_key = create(local_aws, lambda_context, alice, key="key-2")[1]["post"]
    other_user = create(local_aws, lambda_context, bob, key="key-1")[1]["post"]
    status, mismatch = create(local_aws, lambda_context, alice, {**NEW_POST, "title": "Different"}, key="key-1")

    assert again["id"] == first["id"]
    assert len({first["id"], other_key["id"], other_user["id"]}) == 3
    assert (status, mismatch["error"]["code"]) == (422, "validation_error")


def test_only_the_author_sees_a_post_that_is_not_published(local_aws: LocalAws, lambda_context: Any) -> None:
    alice, bob = sign_up(local_aws, lambda_context, "alice"), sign_up(local_aws, lambda_context, "bob")
    post = create(local_aws, lambda_context, alice)[1]["post"]
    path = {"path": f"/posts/{post['id']}", "path_parameters": {"post_id": post["id"]}}

    mine = route(local_aws, lambda_context, "api_get_post.json", alice, **path)
    theirs = route(local_aws, lambda_context, "api_get_post.json", bob, **path)
    missing = route(
        local_aws, lambda_context, "api_get_post.json", bob, path="/posts/nope", path_parameters={"post_id": "nope"}
    )

    assert mine[0] == 200
    assert mine[1]["status"] == "pending_upload"
    assert (theirs[0], theirs[1]["error"]["code"]) == (404, "not_found")
    assert missing[0] == 404


def test_delete_is_for_the_author_and_hides_the_post(local_aws: LocalAws, lambda_context: Any) -> None:
    alice, bob = sign_up(local_aws, lambda_context, "alice"), sign_up(local_aws, lambda_context, "bob")
    post = create(local_aws, lambda_context, alice)[1]["post"]
    path = {"path": f"/posts/{post['id']}", "path_parameters": {"post_id": post["id"]}}

    assert route(local_aws, lambda_context, "api_delete_post.json", bob, **path)[0] == 404  # not visible to bob
    assert route(local_aws, lambda_context, "api_delete_post.json", alice, **path)[0] == 204
    assert route(local_aws, lambda_context, "api_get_post.json", alice, **path)[0] == 404
    assert route(local_aws, lambda_context, "api_delete_post.json", alice, **path)[0] == 404


def test_a_users_posts_walk_newest_first_with_cursors(local_aws: LocalAws, lambda_context: Any) -> None:
    from photofeed.services.posts import new_post_id
    from photofeed.storage.tables import PostRow

    alice, bob = sign_up(local_aws, lambda_context, "alice"), sign_up(local_aws, lambda_context, "bob")
    ids = []
    for index in range(5):
        post_id = new_post_id()
        time.sleep(0.002)  # ULIDs from different milliseconds sort by time
        PostRow(
            id=post_id,
            author_id=alice["id"],
            title=f"p{index}",
            status="published",
            created_at="t",
            content_type="image/jpeg",
            content_length=1,
            upload_key="k",
            published_author_id=alice["id"],
        ).save()
        ids.append(post_id)
    hidden = new_post_id()
    PostRow(
        id=hidden,
        author_id=alice["id"],
        title="pending",
        status="pending_upload",
        created_at="t",
        content_type="image/jpeg",
        content_length=1,
        upload_key="k",
    ).save()

    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page = route(
            local_aws,
            lambda_context,
            "api_get_user_posts.json",
            bob,
            path="/users/alice/posts",
            path_parameters={"username": "alice"},
            query=query,
        )
        assert status == 200
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break

    assert seen == list(reversed(ids))  # newest first, each once, the unpublished one never
