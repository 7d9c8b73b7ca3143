"""Run a DynamoDB transaction, retrying only what DynamoDB says may succeed on a retry."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

_MAX_ATTEMPTS = 8
_RETRYABLE = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}


def reasons(error: TransactWriteError) -> list[str | None]:
    """One cancellation reason per item of the transaction, in order (None: that item was fine)."""
    return [reason.code if reason else None for reason in (error.cancellation_reasons or [])]


def transact(connection: Connection, build: Callable[[TransactWrite], None]) -> None:
    """Items on the same keys conflict under contention (TransactionConflict): retry those with
    jittered backoff; a failed condition or anything else is raised to the caller at once."""
    for attempt in range(_MAX_ATTEMPTS):
        try:
            with TransactWrite(connection=connection) as tx:
                build(tx)
            return
        except TransactWriteError as error:
            retryable = set(reasons(error)) & _RETRYABLE or (
                error.cause_response_code == "TransactionInProgressException"
            )
            if not retryable or attempt == _MAX_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
