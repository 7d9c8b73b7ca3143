"""The fan-out queue -> feeds, timelines and the post cache in Redis.

Each SQS record is one message (a published or deleted post, a chunk of a large audience, a
follow or an unfollow) handled on its own: a failure is reported as a batch item failure and
retried, then dead-lettered; every message is idempotent. Besides a count per message type, it
reports `FeedDeliveries` (feeds a post reached) and `FanoutLag` (milliseconds from publishing to
those feeds), which the dashboard shows.
"""

import json
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from photofeed.clock import utc_now
from photofeed.wiring import fanout_service

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def handle_record(record: SQSRecord) -> None:
    message = json.loads(record.body)
    delivered = fanout_service().handle(message)
    metrics.add_metric(name=f"Fanout_{message.get('type')}", unit=MetricUnit.Count, value=1)
    if delivered:
        metrics.add_metric(name="FeedDeliveries", unit=MetricUnit.Count, value=delivered)
        lag = fanout_lag_ms(message.get("published_at"))
        if lag is not None:
            metrics.add_metric(name="FanoutLag", unit=MetricUnit.Milliseconds, value=lag)


def fanout_lag_ms(published_at: Any) -> float | None:
    """Milliseconds from the post's publishing (its `published_at`, ISO 8601) to now, when these
    feeds have it: the dashboard's fan-out lag. None when the message does not say."""
    if not isinstance(published_at, str):
        return None
    try:
        published = datetime.fromisoformat(published_at)
    except ValueError:
        return None
    return max(0.0, (utc_now() - published).total_seconds() * 1000)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
