"""In-app notifications in DynamoDB: one item per (recipient, notification), newest first.

Ids are ULIDs built from the event's time and a hash of (event, recipient): the same event
delivered twice is the same item, so retries and repeated executions never show a notification
twice. "Mark all read" is a watermark of time on the recipient's device set item (`read_upto`),
compared with each row's `delivered_at`: one write, however many notifications.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from pynamodb.exceptions import DoesNotExist, UpdateError
from ulid import ULID

from photofeed.clock import now_iso
from photofeed.errors import NotFound
from photofeed.pagination import Page, decode_cursor, encode_cursor
from photofeed.storage.tables import DeviceSetRow, NotificationRow, bind_tables


def notification_id(occurred_at: str, event_key: str, recipient_id: str) -> str:
    """A ULID: the event's millisecond, then 80 bits of sha256(event key, recipient)."""
    moment = datetime.fromisoformat(occurred_at.replace("Z", "+00:00"))
    millis = int(moment.timestamp() * 1000)
    digest = hashlib.sha256(f"{event_key}\x1f{recipient_id}".encode()).digest()[:10]
    return str(ULID.from_bytes(millis.to_bytes(6, "big") + digest))


def user_key(user_id: str) -> str:
    return f"u#{user_id}"


class NotificationRepository:
    def __init__(self) -> None:
        bind_tables()

    def add(self, rows: list[NotificationRow]) -> None:
        """Idempotent: a row written again is the same item (its read flag aside, which a retry
        inside the few seconds after a delivery could reset)."""
        with NotificationRow.batch_write() as batch:
            for row in rows:
                batch.save(row)

    def page(self, recipient_id: str, limit: int, cursor: str | None) -> tuple[Page[NotificationRow], str | None]:
        """A page, newest first, and the recipient's read watermark."""
        start = decode_cursor(cursor, {"recipient_id": {"S": recipient_id}}, ("recipient_id", "id"))
        results = NotificationRow.query(recipient_id, scan_index_forward=False, limit=limit, last_evaluated_key=start)
        rows = list(results)
        next_cursor = encode_cursor(results.last_evaluated_key) if len(rows) == limit else None
        return Page(rows, next_cursor), self.read_upto(recipient_id)

    def read_upto(self, recipient_id: str) -> str | None:
        try:
            return DeviceSetRow.get(user_key(recipient_id), attributes_to_get=["read_upto"]).read_upto
        except DoesNotExist:
            return None

    def mark_read(self, recipient_id: str, ids: list[str]) -> None:
        """Marks the caller's own notifications; an id that is not theirs is 404 (nothing else)."""
        rows = {row.id: row for row in NotificationRow.batch_get([(recipient_id, i) for i in set(ids)])}
        missing = sorted(set(ids) - set(rows))
        if missing:
            raise NotFound(f"no such notification: {missing[0]}")
        for row in rows.values():
            try:
                row.update(actions=[NotificationRow.read.set(True)], condition=NotificationRow.id.exists())
            except UpdateError as error:  # deleted by its TTL meanwhile: nothing to mark
                if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
                    raise

    def mark_all_read(self, recipient_id: str) -> None:
        """Everything delivered until now is read: a watermark of time (not of ids, which are the
        events' times: a notification delivered late must not count as read before it came)."""
        now = now_iso()
        # The watermark only moves forward (two devices marking at once keep the later one).
        condition = DeviceSetRow.read_upto.does_not_exist() | (DeviceSetRow.read_upto < now)
        try:
            DeviceSetRow(pk=user_key(recipient_id)).update(
                actions=[DeviceSetRow.read_upto.set(now)], condition=condition
            )
        except UpdateError as error:
            if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
