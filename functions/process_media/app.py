"""S3 ObjectCreated (via SQS) -> verify, strip and resize the photo (or convert the video) ->
publish or reject the post.

The same code serves two functions (template.yaml): ProcessMediaFunction for photos and
ProcessVideoFunction, larger and with PyAV in its layer, for videos (their uploads are announced
to their own queue). A video's conversion must end FINISHING_SECONDS before the invocation's own
timeout, leaving the time to store and record what it made.

Each SQS record is handled on its own: a record that fails (a transient error) is reported back
as a batch item failure, retried after the visibility timeout and dead-lettered after
maxReceiveCount; its batch-mates are not held back. A dead-lettered upload's post is rejected by
the stuck_posts function.
"""

import time
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
# Left, of the invocation's time, to store a converted video (up to ~100 MB to S3) and record it.
FINISHING_SECONDS = 30


@tracer.capture_method
def handle_record(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    deadline = None
    if lambda_context is not None:
        remaining = lambda_context.get_remaining_time_in_millis() / 1000
        deadline = time.monotonic() + remaining - FINISHING_SECONDS
    for upload in uploads_in_notification(record.body):
        outcome = media_processor().process(upload, deadline)
        logger.info("upload processed", extra={"key": upload.key, "outcome": outcome.value})
        metrics.add_metric(name=f"Uploads_{outcome.value}", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
