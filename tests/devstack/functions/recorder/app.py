"""Writes every event it receives to RECORD_DIR/recorder.jsonl; fails SQS records whose body
contains "poison" (as partial batch failures) so the retry and dead-letter paths can be seen."""

import json
import os
import threading
from pathlib import Path
from typing import Any

_lock = threading.Lock()


def handler(event: dict[str, Any], context: Any) -> Any:
    line = (json.dumps(event) + "\n").encode()
    path = Path(os.environ["RECORD_DIR"]) / "recorder.jsonl"
    with _lock:  # one write of the whole line, appended: a reader sees it whole or not yet
        handle = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(handle, line)
        finally:
            os.close(handle)
    if "httpMethod" in event:
        claims = ((event["requestContext"].get("authorizer") or {}).get("claims")) or {}
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps(
                {"resource": event["resource"], "path_parameters": event["pathParameters"], "sub": claims.get("sub")}
            ),
        }
    records = event.get("Records", [])
    if records and records[0].get("eventSource") == "aws:sqs":
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records if "poison" in r["body"]]}
    return None
