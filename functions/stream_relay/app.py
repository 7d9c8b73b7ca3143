"""The tables' streams -> the fan-out queue and the notification state machine (the outbox relay).

A failed record is reported as a batch item failure, so the stream retries from it and nothing
after it is skipped; changes are never lost between a table and the queue.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from photofeed.wiring import stream_relay

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@tracer.capture_method
def handle_record(record: DynamoDBRecord) -> None:
    change = record.dynamodb
    if change is None:
        return
    done = stream_relay().relay(change.old_image or None, change.new_image or None)
    if done:
        logger.info("change relayed", extra={"as": done})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
