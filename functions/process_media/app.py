"""S3 ObjectCreated (via SQS) -> verify, strip and resize the photo -> publish or reject the post.

Each SQS record is handled on its own: a record that fails (a transient error) is reported back
as a batch item failure, retried after the visibility timeout and dead-lettered after
maxReceiveCount; its batch-mates are not held back. A dead-lettered upload's post is rejected by
the stuck_posts function.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from photofeed.services.media import uploads_in_notification
from photofeed.wiring import media_processor

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def handle_record(record: SQSRecord) -> None:
    for upload in uploads_in_notification(record.body):
        outcome = media_processor().process(upload)
        logger.info("upload processed", extra={"key": upload.key, "outcome": outcome.value})
        metrics.add_metric(name=f"Uploads_{outcome.value}", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
