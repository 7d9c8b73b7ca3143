"""How the API reads a request before any handler: JSON text, media types, percent-encoded paths."""

from __future__ import annotations

import pytest

from photofeed.api.http import MAX_JSON_DEPTH, media_type, normalise_path, parse_json_body
from photofeed.errors import BadRequest

NOT_JSON_TEXT = {
    "bytes that are not UTF-8": b'{"username":"\xff","password":"x"}',
    "a truncated UTF-8 sequence": b'{"username":"\xe2\x82","password":"x"}',
    "UTF-16": '{"username":"a"}'.encode("utf-16"),
    "not JSON at all": b"username=alice",
    "a trailing comma": b'{"username":"a",}',
    "NaN": b'{"content_length":NaN}',
    "Infinity": b'{"content_length":Infinity}',
    "-Infinity": b'{"content_length":-Infinity}',
    "a number too long to convert": b'{"content_length":' + b"1" * 5000 + b"}",
    "nesting that overflows the parser": b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "nesting past the limit": b'{"a":' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}",
    "a lone high surrogate": b'{"title":"x\\ud800"}',
    "a lone low surrogate": b'{"title":"\\udfffx"}',
    "a lone surrogate in a key": b'{"\\ud83d":1}',
    "a lone surrogate deep in a list": b'{"ids":["a",["\\ud800"]]}',
    "two documents": b"{} {}",
}


@pytest.mark.parametrize("body", NOT_JSON_TEXT.values(), ids=NOT_JSON_TEXT.keys())
def test_a_body_that_is_not_json_text_is_a_bad_request(body: bytes) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_json_body(body)

    assert "0x" not in refused.value.message  # a sentence, no repr
    assert "<" not in refused.value.message


def test_json_text_parses_with_its_types() -> None:
    body = '{"title":"Crème 🥐","content_length":12,"ratio":1.5,"all":true,"ids":["a"],"x":null}'.encode()
    assert parse_json_body(body) == {
        "title": "Crème 🥐",
        "content_length": 12,
        "ratio": 1.5,
        "all": True,
        "ids": ["a"],
        "x": None,
    }


def test_a_surrogate_pair_is_text() -> None:
    assert parse_json_body(b'{"title":"\\ud83e\\udd50"}') == {"title": "🥐"}


def test_nesting_up_to_the_limit_is_read() -> None:
    depth = MAX_JSON_DEPTH - 1
    body = b'{"a":' + b"[" * depth + b"]" * depth + b"}"
    assert parse_json_body(body)["a"] == eval("[" * depth + "]" * depth)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/json", ("application/json", {})),
        ("Application/JSON", ("application/json", {})),
        ("APPLICATION/JSON ; Charset=UTF-8", ("application/json", {"charset": "UTF-8"})),
        ('application/json; charset="utf-8"', ("application/json", {"charset": "utf-8"})),
        ("text/plain", ("text/plain", {})),
        (None, ("", {})),
    ],
)
def test_media_types_are_read_case_insensitively(header: str | None, expected: tuple[str, dict[str, str]]) -> None:
    assert media_type(header) == expected


@pytest.mark.parametrize(
    ("path", "normal"),
    [
        ("/users/bob%5Fsmith", "/users/bob_smith"),
        ("/users/bob%5fsmith", "/users/bob_smith"),
        ("/fe%65d", "/feed"),
        ("/users/%61lice/followers", "/users/alice/followers"),
        ("/users/a%2Fb", "/users/a%2Fb"),  # an encoded slash never splits a segment
        ("/users/a%2541", "/users/a%2541"),  # nothing is decoded twice
        ("/users/caf%C3%A9", "/users/caf%C3%A9"),  # non-ASCII stays encoded (decoded as a parameter)
    ],
)
def test_paths_are_normalised_as_rfc_3986_says(path: str, normal: str) -> None:
    assert normalise_path(path) == normal
