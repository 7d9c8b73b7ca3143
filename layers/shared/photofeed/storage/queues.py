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
