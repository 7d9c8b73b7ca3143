"""What the API answers to requests from outside, over HTTP against `make local`: any method, any
encoding of a path, any body, and a deletion every read sees at once; the API's own document."""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import Api
from tests.e2e.test_feed_e2e import feed_ids, publish
from tests.stack_runner import RunningStack
from tools.openapi import DOCUMENT

pytestmark = pytest.mark.e2e


def raw_request(stack: RunningStack, method: str, path: str) -> tuple[int, str, dict[str, str]]:
    parts = urlsplit(stack.api_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, path)
        answer = connection.getresponse()
        return answer.status, answer.read().decode(), {k.lower(): v for k, v in answer.getheaders()}
    finally:
        connection.close()


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "FROB", "HEAD", "PATCH"])
def test_a_method_no_route_has_is_answered_as_api_gateway_would(stack: RunningStack, method: str) -> None:
    status, body, headers = raw_request(stack, method, "/health")

    assert status == 404
    assert headers["content-type"] == "application/json"
    if method != "HEAD":
        assert json.loads(body) == {"error": {"code": "not_found", "message": "no such route"}}


def test_a_malformed_request_is_refused_in_json(stack: RunningStack) -> None:
    parts = urlsplit(stack.api_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1 extra words\r\n\r\n")
        answer = sock.makefile("rb").read().decode()

    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 400")
    assert "content-type: application/json" in head.lower()
    assert json.loads(body)["error"]["code"] == "bad_request"


def test_a_path_reaches_its_resource_however_it_is_encoded(api: Api) -> None:
    reader = api.sign_up()
    owner = api.sign_up(f"e_{reader.username[1:9]}_x")
    encoded = owner.username.replace("_", "%5F")

    for path in (f"/users/{encoded}", f"/users/{encoded.replace('%5F', '%5f')}", f"/users/{encoded}/followers"):
        answer = api.call("GET", path, token=reader.id_token)
        assert answer.status_code == 200, (path, answer.text)
    assert api.call("GET", f"/users/{encoded}", token=reader.id_token).json()["id"] == owner.id
    assert api.call("GET", "/fe%65d", token=reader.id_token).status_code == 200


def test_bodies_that_are_not_json_text_are_400_over_http(api: Api) -> None:
    for body in (
        b'{"username":"\xff","password":"x"}',
        b'{"username":NaN}',
        b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}",
    ):
        answer = api.call("POST", "/auth/login", data=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "bad_request"


def test_a_body_of_another_media_type_is_415_whatever_its_bytes(api: Api) -> None:
    for body in (b"username=alice", b"\xff\xfe"):
        answer = api.call("POST", "/auth/login", data=body, headers={"Content-Type": "text/plain"})
        assert answer.status_code == 415, answer.text
        assert answer.json()["error"]["code"] == "unsupported_media_type"


def test_a_media_type_in_capitals_is_json(api: Api) -> None:
    account = api.sign_up()
    body = json.dumps({"username": account.username, "password": account.password})

    answer = api.call("POST", "/auth/login", data=body, headers={"Content-Type": "Application/JSON; Charset=UTF-8"})

    assert answer.status_code == 200, answer.text


def test_a_deleted_post_leaves_a_warm_feed_the_moment_delete_answers(api: Api) -> None:
    alice, bob = api.sign_up(), api.sign_up()
    assert api.call("PUT", f"/users/{alice.username}/follow", token=bob.id_token).status_code == 204
    feed_ids(api, bob)  # bob's feed exists from now on
    post = publish(api, alice)
    kept = publish(api, alice)
    for reader in (alice, bob):
        for _ in range(100):
            if feed_ids(api, reader) == [kept, post]:
                break
        assert feed_ids(api, reader) == [kept, post]  # warm: both in the post cache

    assert api.call("DELETE", f"/posts/{post}", token=alice.id_token).status_code == 204
    # At once: no wait for the stream, the fan-out worker or the search indexer.
    assert feed_ids(api, bob) == [kept]
    assert feed_ids(api, alice) == [kept]
    profile = api.call("GET", f"/users/{alice.username}/posts", token=bob.id_token).json()["items"]
    assert [item["id"] for item in profile] == [kept]
    assert api.call("GET", f"/posts/{post}", token=bob.id_token).status_code == 404


def test_the_api_serves_its_own_document_and_a_page_for_it(api: Api, stack: RunningStack) -> None:
    assert f"API docs               {stack.api_url}/docs" in stack.log()  # make local prints both
    assert f"OpenAPI document       {stack.api_url}/openapi.json" in stack.log()
    document = api.call("GET", "/openapi.json")
    page = api.call("GET", "/docs")

    assert document.status_code == 200
    assert document.headers["Content-Type"] == "application/json"
    assert document.text == DOCUMENT.read_text(encoding="utf-8")
    assert document.json()["info"]["title"] == "Photo feed API"
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "SwaggerUIBundle(" in page.text
    assert '"title": "Photo feed API"' in page.text  # the document itself is in the page
    assert "https://" not in page.text.split("<script>")[0]  # nothing loaded from elsewhere
