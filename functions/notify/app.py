"""The notification state machine's tasks (statemachines/notify.asl.json).

Each invocation is one step of an execution: `deliver` (one recipient), `plan` (pages of a new
post's audience) or `deliver_page` (one page of followers). Errors are raised, so the state
machine's Retry and Catch decide what happens next.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from photofeed.services.notifications import NotificationEvent
from photofeed.wiring import notification_service

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = event.get("action")
    notification = NotificationEvent.of(event["event"])
    logger.append_keys(notification_type=notification.type, notification_key=notification.key)
    service = notification_service()
    if action == "deliver":
        result = service.deliver(notification)
    elif action == "plan":
        return service.plan(notification, event["event"].get("after"))
    elif action == "deliver_page":
        result = service.deliver_page(notification, (event.get("page") or {}).get("after"))
    else:
        raise ValueError(f"unknown action {action!r}")
    metrics.add_metric(name="NotificationsDelivered", unit=MetricUnit.Count, value=result["recipients"])
    metrics.add_metric(name="PushesPublished", unit=MetricUnit.Count, value=result["pushed"])
    return result
