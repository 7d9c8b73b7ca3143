"""Run an action at most once per (scope, key) within a window, with Powertools idempotency."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from photofeed.config import get_settings
from photofeed.errors import Conflict, ValidationFailed
from photofeed.storage.clients import client

WINDOW_SECONDS = 24 * 60 * 60


class IdempotentActions:
    def __init__(self) -> None:
        self._persistence = DynamoDBPersistenceLayer(
            table_name=get_settings().idempotency_table, boto3_client=client("dynamodb")
        )
        self._config = IdempotencyConfig(
            event_key_jmespath="[scope, key]",
            payload_validation_jmespath="payload",
            expires_after_seconds=WINDOW_SECONDS,
            raise_on_no_idempotency_key=True,
        )

    def register_lambda_context(self, context: Any) -> None:
        """Lets an in-progress record expire with the invocation that wrote it, if that one dies."""
        self._config.register_lambda_context(context)

    def once(self, scope: str, key: str, payload: dict[str, Any], action: Callable[[], str]) -> str:
        """The result of the first call with this scope and key; `action` runs only for that one.
        The same key with a different payload is refused (422), as the Idempotency-Key draft says."""

        @idempotent_function(data_keyword_argument="request", persistence_store=self._persistence, config=self._config)
        def run(request: dict[str, Any]) -> str:
            return action()

        try:
            return str(run(request={"scope": scope, "key": key, "payload": payload}))
        except IdempotencyValidationError as error:
            raise ValidationFailed("Idempotency-Key was already used with a different request") from error
        except IdempotencyAlreadyInProgressError as error:
            raise Conflict("a request with this Idempotency-Key is still in progress") from error
