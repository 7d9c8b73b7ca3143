"""Posts that can never publish end `rejected` (photofeed.services.stuck_posts), from two triggers:

- the media and video dead-letter queues (SQS): an upload the media or video worker gave up on
  rejects its post at once; each record is handled on its own, a failed one (DynamoDB
  unavailable) comes back;
- a schedule (EventBridge, every 5 minutes): the sweep rejects every post still in flight past
  its deadline, reckoned from the event's `time` (when the schedule fired).
"""

from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from photofeed.clock import utc_now
from photofeed.services.media import uploads_in_notification
from photofeed.wiring import stuck_posts

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def handle_dead_letter(record: SQSRecord) -> None:
    for upload in uploads_in_notification(record.body):
        if stuck_posts().reject_dead_letter(upload):
            logger.warning("post of a dead-lettered upload rejected", extra={"key": upload.key})
            metrics.add_metric(name="StuckPostsRejected", unit=MetricUnit.Count, value=1)


def handle_schedule(event: EventBridgeEvent) -> dict[str, int]:
    now = datetime.fromisoformat(event.time) if event.get("time") else utc_now()
    rejected = stuck_posts().sweep(now)
    logger.info("stuck posts swept", extra={"rejected": rejected, "as_of": now.isoformat()})
    metrics.add_metric(name="StuckPostsRejected", unit=MetricUnit.Count, value=rejected)
    return {"rejected": rejected}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    if "Records" in event:
        return process_partial_response(
            event=event, record_handler=handle_dead_letter, processor=processor, context=context
        )
    return handle_schedule(EventBridgeEvent(event))
