"""Notifications and push devices: request bodies and answers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

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


class MarkReadRequest(RequestModel):
    """Either the ids to mark read, or `all: true`."""

    ids: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(min_length=1, max_length=100)] | None
    ) = None
    all: bool | None = None

    @model_validator(mode="after")
    def _one_of(self) -> MarkReadRequest:
        if (self.ids is None) == (self.all is not True):
            raise ValueError('give either "ids" (1 to 100 notification ids) or "all": true')
        return self


class RegisterDeviceRequest(RequestModel):
    platform: Platform
    # FCM registration tokens run to ~160 characters, APNs device tokens are 64 hex digits.
    token: Annotated[str, Field(min_length=8, max_length=4096, pattern=r"^[\x21-\x7e]+$")]


class Device(BaseModel):
    id: str
    platform: Platform
