"""How titles and queries are normalised and matched (pure functions, no storage)."""

from __future__ import annotations

import pytest

from photofeed.errors import ValidationFailed
from photofeed.services.search import MAX_PREFIX, Query, index_keys, words_of


def fullwidth(text: str) -> str:
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Café-Crème, À LA Plage!", ["cafe", "creme", "a", "la", "plage"]),
        ("rock'n'roll__forever", ["rock", "n", "roll", "forever"]),
        ("STRASSE straße Straße", ["strasse"]),
        (f"{fullwidth('Fullwidth')} {fullwidth('2026')}", ["fullwidth", "2026"]),
        ("Ørsted  Łódź   naïve", ["ørsted", "łodz", "naive"]),
        ("🌅 sunset 🌅", ["sunset"]),
        ("   ...!!!   ", []),
    ],
)
def test_words_are_case_and_accent_folded_and_split_on_punctuation(text: str, words: list[str]) -> None:
    assert words_of(text) == words


def test_a_title_is_indexed_under_its_words_and_their_prefixes() -> None:
    keys = index_keys(["sun", "a", "photographically"])
    assert {"w#sun", "w#a", "w#photographically", "p#su", "p#sun", "p#ph", "p#photographic"} <= keys
    assert "p#s" not in keys
    assert "p#a" not in keys
    assert "p#photographica" not in keys  # ... and stop at MAX_PREFIX (12) letters
    assert max(len(key) - 2 for key in keys if key.startswith("p#")) == MAX_PREFIX


@pytest.mark.parametrize(
    ("q", "title", "found"),
    [
        ("cafe", "Café at noon", True),
        ("CAFÉ NOON", "café at noon", True),
        ("noon cafe", "Café at noon", True),  # word order does not matter
        ("café no", "Café at noon", True),  # the last word is also a prefix
        ("caf noon", "Café at noon", False),  # ... only the last one
        ("cafe n", "Café at noon", False),  # a one-letter last word must be a whole word
        ("cafe a", "Café a noon", True),
        ("cafe at night", "Café at noon", False),  # every word must be there
        ("photographical", "photographically speaking", True),  # a prefix beyond MAX_PREFIX letters
        ("photographicx", "photographically speaking", False),
    ],
)
def test_a_query_needs_every_word_and_the_last_as_a_prefix(q: str, title: str, found: bool) -> None:
    assert Query.parse(q).matches(words_of(title)) is found


def test_the_query_reads_its_longest_word() -> None:
    assert Query.parse("the sunset at").driving_key() == "w#sunset"
    assert Query.parse("at the beaches").driving_key() == "p#beaches"
    assert Query.parse("beach a").driving_key() == "w#beach"
    assert Query.parse("x").driving_key() == "w#x"


@pytest.mark.parametrize("q", ["", "   ", "?!…", "a" * 201, "one two three four five six seven eight nine"])
def test_empty_or_over_long_queries_are_refused(q: str) -> None:
    with pytest.raises(ValidationFailed):
        Query.parse(q)
