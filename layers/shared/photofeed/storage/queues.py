"""WorkQueue: JSON messages onto an SQS queue."""

from __future__ import annotations

import json
from typing import Any

from photofeed.storage.clients import client


class WorkQueue:
    def __init__(self, url: str, sqs: Any | None = None) -> None:
        self._url = url
        self._sqs = sqs or client("sqs")

    def send(self, message: dict[str, Any]) -> None:
        self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps(message, separators=(",", ":")))

    def send_many(self, messages: list[dict[str, Any]]) -> None:
        """Ten messages per request; anything SQS did not take is an error (the caller retries)."""
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(index), "MessageBody": json.dumps(message, separators=(",", ":"))}
                for index, message in enumerate(messages[start : start + 10])
            ]
            answer = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"SQS refused {len(answer['Failed'])} fan-out messages: {answer['Failed'][0]}")
