"""The posts table's stream -> the search index (titles of published posts, by word and prefix).

A failed record is reported as a batch item failure, so the stream retries from it and nothing
after it is skipped: a post is never left findable after its deletion because a batch failed.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from photofeed.wiring import search_indexer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@tracer.capture_method
def handle_record(record: DynamoDBRecord) -> None:
    change = record.dynamodb
    if change is None:
        return
    done = search_indexer().apply(change.old_image or None, change.new_image or None)
    if done is not None:
        metrics.add_metric(name=f"Search_{done}", unit=MetricUnit.Count, value=1)
        logger.debug("search index changed", extra={"change": done})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
