"""Search posts by title: normalised words, a prefix index, one key read per query.

Titles and queries are normalised the same way: case-folded, accents removed (Unicode NFKD, then
the combining marks dropped), split on anything that is not a letter or digit. A published post is
indexed under `w#<word>` for each of its words and `p#<prefix>` for each prefix of 2..12 letters of
each word (longer prefixes are looked up by their first 12 letters and checked against the words).

A query holds every word of `q`, the last one also as a prefix. It reads the one key likely to be
the rarest (the longest), newest first, and checks the other words against the `words` each entry
carries, so it never intersects lists across round trips. The read stops once the page is full or
after a budget of entries; the cursor then resumes after the last entry looked at, so a rare
combination of common words comes back in short pages rather than in one slow request.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from photofeed.errors import ValidationFailed
from photofeed.models.posts import Post
from photofeed.pagination import Page, decode_cursor, encode_cursor
from photofeed.services.posts import PostPresenter
from photofeed.storage.engagement import EngagementRepository
from photofeed.storage.posts import PUBLISHED, PostRepository
from photofeed.storage.search_index import SearchIndex

MIN_PREFIX = 2
MAX_PREFIX = 12
MAX_QUERY_CHARS = 200
MAX_QUERY_WORDS = 8
MAX_WORD = 64
# Index entries one request may look at before it answers what it found (with a cursor).
SCAN_BUDGET = 1000

_WORD = re.compile(r"[^\W_]+")


def words_of(text: str) -> list[str]:
    """The normalised words of a text, each once, in order: "Café-Crème, À LA Plage!" ->
    ["cafe", "creme", "a", "la", "plage"]."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(char for char in decomposed if not unicodedata.combining(char))
    # A word is cut at MAX_WORD letters (a key stays far below DynamoDB's 2 KB; NFKD can make one
    # character many), titles and queries alike, so a long word still finds itself.
    return list(dict.fromkeys(word[:MAX_WORD] for word in _WORD.findall(folded)))


def index_keys(words: list[str]) -> set[str]:
    """Every key a title with these words is found under."""
    keys = {f"w#{word}" for word in words}
    for word in words:
        keys.update(f"p#{word[:length]}" for length in range(MIN_PREFIX, min(len(word), MAX_PREFIX) + 1))
    return keys


@dataclass(frozen=True)
class Query:
    whole: tuple[str, ...]  # words the title must hold exactly
    last: str  # ... and this one, exactly or (2+ letters) as the start of a word

    @classmethod
    def parse(cls, q: str) -> Query:
        if len(q) > MAX_QUERY_CHARS:
            raise ValidationFailed(f"q: at most {MAX_QUERY_CHARS} characters")
        words = words_of(q)
        if not words:
            raise ValidationFailed("q: give at least one word (letters or digits)")
        if len(words) > MAX_QUERY_WORDS:
            raise ValidationFailed(f"q: at most {MAX_QUERY_WORDS} words")
        return cls(tuple(words[:-1]), words[-1])

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256("\x1f".join((*self.whole, self.last)).encode()).hexdigest()[:16]

    def driving_key(self) -> str:
        """The key to read: the longest word (a rough, free stand-in for the rarest)."""
        candidates = [(len(word), 1, f"w#{word}") for word in self.whole]
        if len(self.last) >= MIN_PREFIX:
            candidates.append((min(len(self.last), MAX_PREFIX), 0, f"p#{self.last[:MAX_PREFIX]}"))
        else:
            candidates.append((len(self.last), 1, f"w#{self.last}"))
        return max(candidates)[2]

    def matches(self, title_words: list[str]) -> bool:
        present = set(title_words)
        if not all(word in present for word in self.whole):
            return False
        if self.last in present:
            return True
        return len(self.last) >= MIN_PREFIX and any(word.startswith(self.last) for word in title_words)


class SearchIndexer:
    """Posts table changes -> the index: a post is added when it is published, removed when it
    stops being published (deleted). Count updates of a published post change nothing here."""

    def __init__(self, index: SearchIndex) -> None:
        self._index = index

    def apply(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> str | None:
        was = (old or {}).get("status") == PUBLISHED
        now = (new or {}).get("status") == PUBLISHED
        if now and not was:
            assert new is not None
            words = words_of(str(new["title"]))
            self._index.add(str(new["id"]), index_keys(words), words)
            return "indexed"
        if was and not now:
            assert old is not None
            self._index.remove(str(old["id"]), index_keys(words_of(str(old["title"]))))
            return "removed"
        return None


class SearchService:
    def __init__(
        self,
        index: SearchIndex,
        posts: PostRepository,
        presenter: PostPresenter,
        engagement: EngagementRepository,
        scan_budget: int = SCAN_BUDGET,
    ) -> None:
        self._index = index
        self._posts = posts
        self._presenter = presenter
        self._engagement = engagement
        self._scan_budget = scan_budget

    def search(self, caller_id: str, q: str, limit: int, cursor: str | None) -> Page[Post]:
        query = Query.parse(q)
        position = decode_cursor(cursor, {"q": query.fingerprint})
        before = position.get("before") if position else None
        if position is not None and not (isinstance(before, str) and 0 < len(before) <= 64):
            raise ValidationFailed("cursor: not a cursor this API gave out")
        key = query.driving_key()
        found: list[str] = []
        scanned = 0
        exhausted = False
        while len(found) < limit and scanned < self._scan_budget:
            batch = min(max(4 * (limit - len(found)), 50), self._scan_budget - scanned)
            entries = self._index.newest(key, before, batch)
            consumed = 0
            for entry in entries:
                consumed += 1
                before = entry.post_id
                if query.matches(entry.words):
                    found.append(entry.post_id)
                    if len(found) == limit:
                        break
            scanned += consumed
            if len(entries) < batch and consumed == len(entries):
                exhausted = True  # the key has nothing older
                break
        rows = self._posts.many(found, consistent=True)  # a post deleted a moment ago is not shown
        published = [rows[post_id] for post_id in found if post_id in rows and rows[post_id].status == PUBLISHED]
        liked = self._engagement.liked_posts(caller_id, [row.id for row in published])
        items = self._presenter.present(published, liked=liked)
        next_cursor = None if exhausted else encode_cursor({"q": query.fingerprint, "before": before})
        return Page(items, next_cursor)
