"""Comments and likes over HTTP against `make local`, with real concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests import images
from tests.e2e.conftest import Account, Api
from tests.e2e.test_posts_and_follows_e2e import post_photo, settled
from tests.stack_runner import RunningStack, eventually

pytestmark = pytest.mark.e2e


def test_likes_from_many_threads_count_once_per_user(api: Api, stack: RunningStack) -> None:
    author = api.sign_up()
    fans = [api.sign_up() for _ in range(4)]
    post_id = post_photo(api, author, images.jpeg((320, 240)))
    assert settled(api, author, post_id)["status"] == "published"
    comment = api.call("POST", f"/posts/{post_id}/comments", token=fans[0].id_token, json={"text": "lovely"})
    assert comment.status_code == 201
    comment_id = comment.json()["id"]

    def hammer(index: int) -> int:
        fan = fans[index % len(fans)]
        client = Api(stack.api_url)
        path = f"/posts/{post_id}/like" if index % 2 else f"/posts/{post_id}/comments/{comment_id}/like"
        return client.call("PUT", path, token=fan.id_token).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(hammer, range(64)))

    assert set(statuses) == {204}
    post = api.call("GET", f"/posts/{post_id}", token=fans[1].id_token).json()
    # Odd calls like the post (fans 1 and 3), even ones the comment (fans 0 and 2), 16 times each.
    assert (post["like_count"], post["liked_by_me"], post["comment_count"]) == (2, True, 1)
    comments = api.call("GET", f"/posts/{post_id}/comments", token=fans[0].id_token).json()["items"]
    assert (comments[0]["like_count"], comments[0]["liked_by_me"]) == (2, True)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda _: Api(stack.api_url).call("DELETE", f"/posts/{post_id}/like", token=fans[1].id_token), range(8)
            )
        )
    post = api.call("GET", f"/posts/{post_id}", token=fans[1].id_token).json()
    assert (post["like_count"], post["liked_by_me"]) == (1, False)


def test_comment_delete_rules(api: Api) -> None:
    author, commenter, stranger = api.sign_up(), api.sign_up(), api.sign_up()
    post_id = post_photo(api, author, images.jpeg((320, 240)))
    settled(api, author, post_id)
    first = api.call("POST", f"/posts/{post_id}/comments", token=commenter.id_token, json={"text": "one"}).json()
    second = api.call("POST", f"/posts/{post_id}/comments", token=commenter.id_token, json={"text": "two"}).json()

    refused = api.call("DELETE", f"/posts/{post_id}/comments/{first['id']}", token=stranger.id_token)
    assert refused.status_code == 403
    assert api.call("DELETE", f"/posts/{post_id}/comments/{first['id']}", token=commenter.id_token).status_code == 204
    assert api.call("DELETE", f"/posts/{post_id}/comments/{second['id']}", token=author.id_token).status_code == 204
    assert api.call("GET", f"/posts/{post_id}", token=author.id_token).json()["comment_count"] == 0
    unknown = api.call("POST", "/posts/01JD8ZQ4W5X2Y7K9M3N6P8R1T4/comments", token=author.id_token, json={"text": "x"})
    assert unknown.status_code == 404


def test_a_comment_liked_three_times_counts_once_and_a_post_like_shows_everywhere(api: Api) -> None:
    author, fan = api.sign_up(), api.sign_up()
    assert api.call("PUT", f"/users/{author.username}/follow", token=fan.id_token).status_code == 204
    post_id = post_photo(api, author, images.jpeg((320, 240)))
    assert settled(api, author, post_id)["status"] == "published"
    comment_id = api.call("POST", f"/posts/{post_id}/comments", token=author.id_token, json={"text": "hi"}).json()["id"]
    comment_like = f"/posts/{post_id}/comments/{comment_id}/like"

    def comment_likes(reader: Account) -> tuple[int, bool]:
        items = api.call("GET", f"/posts/{post_id}/comments", token=reader.id_token).json()["items"]
        return items[0]["like_count"], items[0]["liked_by_me"]

    assert [api.call("PUT", comment_like, token=fan.id_token).status_code for _ in range(3)] == [204] * 3
    assert comment_likes(fan) == (1, True)
    assert comment_likes(author) == (1, False)
    assert [api.call("DELETE", comment_like, token=fan.id_token).status_code for _ in range(2)] == [204] * 2
    assert comment_likes(fan) == (0, False)

    assert api.call("PUT", f"/posts/{post_id}/like", token=fan.id_token).status_code == 204

    def seen_by(reader: Account, path: str) -> tuple[int, bool] | None:
        posts = [p for p in api.call("GET", path, token=reader.id_token).json()["items"] if p["id"] == post_id]
        return (posts[0]["like_count"], posts[0]["liked_by_me"]) if posts else None

    assert eventually(lambda: seen_by(fan, "/feed"), what="the post in the fan's feed") == (1, True)
    assert seen_by(fan, f"/users/{author.username}/posts") == (1, True)
    assert seen_by(author, "/feed") == (1, False)
    single = api.call("GET", f"/posts/{post_id}", token=fan.id_token).json()
    assert (single["like_count"], single["liked_by_me"], single["comment_count"]) == (1, True, 1)
