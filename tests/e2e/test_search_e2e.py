"""Search by title over HTTP against `make local`: the posts stream feeds the indexer for real."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from urllib.parse import urlencode

import pytest

from tests import images
from tests.e2e.conftest import Api
from tests.e2e.test_posts_and_follows_e2e import post_photo, settled

pytestmark = pytest.mark.e2e


def eventually(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "search did not catch up"
        time.sleep(0.1)


def test_search_by_every_word_any_case_and_accent_by_prefix_and_not_after_delete(api: Api) -> None:
    author, reader = api.sign_up(), api.sign_up()
    tag = "zq" + uuid.uuid4().hex[:8].translate(str.maketrans("0123456789", "ghijklmnop"))
    title = f"Crème Brûlée at the {tag.capitalize()} Café"
    post_id = post_photo(api, author, images.jpeg((320, 240)), title=title)
    other_id = post_photo(api, author, images.jpeg((320, 240)), title=f"{tag} harbour")
    assert settled(api, author, post_id)["status"] == "published"
    assert settled(api, author, other_id)["status"] == "published"

    def found(q: str) -> list[str]:
        answer = api.call("GET", "/search?" + urlencode({"q": q}), token=reader.id_token)
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    eventually(lambda: found(tag) == [other_id, post_id])
    assert found(f"creme BRULEE {tag.upper()} cafe") == [post_id]
    assert found(f"CAFÉ {tag} crè") == [post_id]
    assert found(f"{tag} harb") == [other_id]
    assert found(f"{tag} night") == []

    assert api.call("DELETE", f"/posts/{post_id}", token=author.id_token).status_code == 204
    assert found(f"brulee {tag}") == []
    eventually(lambda: found(tag) == [other_id])

    empty = api.call("GET", "/search?q=%20%20", token=reader.id_token)
    assert empty.status_code == 422
    assert empty.json()["error"]["code"] == "validation_error"
    assert api.call("GET", f"/search?q={tag}").status_code == 401
