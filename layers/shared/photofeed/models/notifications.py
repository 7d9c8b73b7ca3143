"""Notifications and push devices: request bodies and answers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from photofeed.models.users import RequestModel, Timestamp, UserSummary

NotificationType = Literal["new_post", "comment", "comment_like", "post_like", "follow"]
Platform = Literal["GCM", "APNS", "APNS_SANDBOX"]


class Notification(BaseModel):
    id: str
    type: NotificationType
    actor: UserSummary
    post_id: str | None = None
    comment_id: str | None = None
    created_at: Timestamp
    read: bool


class NotificationList(BaseModel):
    items: list[Notification]
    next_cursor: str | None


class MarkIdsRead(RequestModel):
    """Mark these notifications (the caller's own) read."""

    ids: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(min_length=1, max_length=100)]


def _true(value: bool) -> bool:
    if value is not True:
        raise ValueError('give "all": true, or "ids"')
    return value


class MarkAllRead(RequestModel):
    """Mark every notification the caller has read."""

    # A strict bool, then only true: `Literal[True]` would take 1 (1 == True in Python).
    all: Annotated[bool, AfterValidator(_true), Field(json_schema_extra={"const": True})]


# Either the ids to mark read, or `all: true`; a body that is both, or neither, is 422.
MarkReadRequest = MarkIdsRead | MarkAllRead


class RegisterDeviceRequest(RequestModel):
    platform: Platform
    # FCM registration tokens run to ~160 characters, APNs device tokens are 64 hex digits.
    token: Annotated[str, Field(min_length=8, max_length=4096, pattern=r"^[\x21-\x7e]+$")]


class Device(BaseModel):
    id: str
    platform: Platform
