"""Opaque list cursors: DynamoDB's LastEvaluatedKey (or any small key), base64url JSON.

A cursor names the last item a page returned, so following cursors walks a list with no
duplicates and no gaps while new items arrive at the head. A cursor that does not decode, or
that names keys of another list, is a validation error, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from photofeed.errors import ValidationFailed

T = TypeVar("T")

MAX_CURSOR_LENGTH = 2048
DEFAULT_LIMIT = 20
MAX_LIMIT = 50


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str | None, expected: dict[str, Any] | None = None, keys: tuple[str, ...] | None = None
) -> dict[str, Any] | None:
    """The key a cursor names. `expected` pins key attributes to the values this list must have;
    `keys` names every attribute of a DynamoDB key, each a string, so a forged cursor is a 422
    rather than a key DynamoDB refuses."""
    if not cursor:
        return None
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(key, dict):
            raise ValueError("not an object")
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise ValidationFailed("cursor: not a cursor this API gave out") from error
    for name, value in (expected or {}).items():
        if key.get(name) != value:
            raise ValidationFailed("cursor: it belongs to another list")
    if keys is not None and (set(key) != set(keys) or not all(_string_value(key[name]) for name in keys)):
        raise ValidationFailed("cursor: not a cursor this API gave out")
    return key


def _string_value(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and list(value) == ["S"]
        and isinstance(value["S"], str)
        and 0 < len(value["S"].encode()) <= 1024
    )
