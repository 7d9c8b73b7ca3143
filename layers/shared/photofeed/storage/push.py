"""Push devices: SNS platform endpoints, and which user each device belongs to.

A device is (platform, token); its id is a hash of both, so registering the same token again is
the same device. The device set item of a user (`u#<id>`) lists their endpoints for deliveries;
a claim item (`d#<device id>`) says who owns the device now. When a phone changes hands, one
transaction moves the claim and takes the device out of the previous owner's set, so nobody
gets another user's notifications.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import partial
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from photofeed.errors import BadRequest, Conflict, NotFound
from photofeed.storage.clients import client
from photofeed.storage.notifications import user_key
from photofeed.storage.tables import DeviceClaimRow, DeviceSetRow, bind_tables
from photofeed.storage.transactions import reasons, transact

_EXISTING_ENDPOINT = re.compile(r"Endpoint (arn:aws[\w-]*:sns:\S+) already exists")
GONE = ("EndpointDisabled", "NotFound", "InvalidParameter")


def device_id(platform: str, token: str) -> str:
    return hashlib.sha256(f"{platform}\x1f{token}".encode()).hexdigest()[:32]


class PushGateway:
    """SNS mobile push."""

    def __init__(self, arn_prefix: str, application_name: str, platforms: set[str]) -> None:
        self._arn_prefix = arn_prefix
        self._name = application_name
        self._platforms = platforms

    def application(self, platform: str) -> str:
        if platform not in self._platforms:
            raise BadRequest(f"push to {platform} devices is not configured on this deployment")
        return f"{self._arn_prefix}/{platform}/{self._name}"

    def endpoint(self, platform: str, token: str, user_id: str) -> str:
        """The endpoint for a token, created or taken over (SNS keeps one endpoint per token)."""
        sns = client("sns")
        application = self.application(platform)
        try:
            arn = str(
                sns.create_platform_endpoint(PlatformApplicationArn=application, Token=token, CustomUserData=user_id)[
                    "EndpointArn"
                ]
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            found = _EXISTING_ENDPOINT.search(str(error.response.get("Error", {}).get("Message", "")))
            if code == "InvalidParameter" and not found:
                raise BadRequest(f"token: not a valid {platform} device token") from error
            if code != "InvalidParameter" or not found:
                raise
            arn = found.group(1)  # the token's endpoint, registered before with other attributes
        else:
            # SNS answers an existing endpoint as it is: one it disabled (a token the platform
            # refused once) stays disabled unless it is turned on again (AWS's advice).
            attributes = sns.get_endpoint_attributes(EndpointArn=arn).get("Attributes", {})
            if attributes.get("Enabled") == "true" and attributes.get("Token") == token:
                return arn
        sns.set_endpoint_attributes(
            EndpointArn=arn, Attributes={"CustomUserData": user_id, "Enabled": "true", "Token": token}
        )
        return arn

    def delete(self, endpoint_arn: str) -> None:
        client("sns").delete_endpoint(EndpointArn=endpoint_arn)  # idempotent in SNS

    def publish(self, endpoint_arn: str, platform: str, title: str, body: str, data: dict[str, str]) -> bool:
        """True if SNS took the message; False if the endpoint is disabled or gone."""
        try:
            client("sns").publish(
                TargetArn=endpoint_arn,
                MessageStructure="json",
                Message=json.dumps(payload(platform, title, body, data)),
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in GONE:
                return False
            raise
        return True


def payload(platform: str, title: str, body: str, data: dict[str, str]) -> dict[str, str]:
    """What a phone shows: a title, a body, and data for the deep link, per platform."""
    if platform == "GCM":
        message: dict[str, Any] = {
            "notification": {"title": title, "body": body},
            "data": data,
            "android": {"priority": "high"},
        }
        return {"default": body, "GCM": json.dumps({"fcmV1Message": {"message": message}})}
    aps = {"aps": {"alert": {"title": title, "body": body}, "sound": "default"}, **data}
    return {"default": body, platform: json.dumps(aps)}


class DeviceRegistry:
    def __init__(self, push: PushGateway) -> None:
        bind_tables()
        self._push = push
        meta: Any = DeviceSetRow.Meta
        self._connection = Connection(region=meta.region, host=meta.host)

    def register(self, user_id: str, platform: str, token: str) -> str:
        device = device_id(platform, token)
        endpoint = self._push.endpoint(platform, token, user_id)
        self._ensure_set(user_id)
        for _ in range(5):
            previous = self._claim(device)
            if previous is not None and previous.owner_id == user_id and previous.endpoint_arn == endpoint:
                self._add(user_id, device, platform, endpoint)  # repairs a set that lost it
                return device
            try:
                transact(self._connection, partial(self._move, device, platform, endpoint, user_id, previous))
                return device
            except TransactWriteError as error:
                if "ConditionalCheckFailed" not in reasons(error):
                    raise
                # Someone registered the same device meanwhile: read again. (The previous
                # owner's set always exists: a device is only ever added to an existing set.)
        raise Conflict("the device kept changing; try again")

    def _move(
        self,
        device: str,
        platform: str,
        endpoint: str,
        user_id: str,
        previous: DeviceClaimRow | None,
        tx: TransactWrite,
    ) -> None:
        claim = DeviceClaimRow(pk=f"d#{device}", owner_id=user_id, platform=platform, endpoint_arn=endpoint)
        if previous is None:
            tx.save(claim, condition=DeviceClaimRow.pk.does_not_exist())
        else:
            tx.save(claim, condition=DeviceClaimRow.owner_id == previous.owner_id)
            if previous.owner_id != user_id:
                tx.update(
                    DeviceSetRow(pk=user_key(previous.owner_id)),
                    actions=[DeviceSetRow.devices[device].remove()],
                    condition=DeviceSetRow.pk.exists(),
                )
        tx.update(
            DeviceSetRow(pk=user_key(user_id)),
            actions=[DeviceSetRow.devices[device].set({"platform": platform, "endpoint_arn": endpoint})],
        )

    @staticmethod
    def _ensure_set(user_id: str) -> None:
        """The user's set item with its `devices` map (a nested path can only be set in a map)."""
        DeviceSetRow(pk=user_key(user_id)).update(
            actions=[DeviceSetRow.devices.set(DeviceSetRow.devices | {})]  # if_not_exists
        )

    def _add(self, user_id: str, device: str, platform: str, endpoint: str) -> None:
        DeviceSetRow(pk=user_key(user_id)).update(
            actions=[DeviceSetRow.devices[device].set({"platform": platform, "endpoint_arn": endpoint})]
        )

    @staticmethod
    def _claim(device: str) -> DeviceClaimRow | None:
        try:
            return DeviceClaimRow.get(f"d#{device}", consistent_read=True)
        except DoesNotExist:
            return None

    def remove(self, user_id: str, device: str) -> None:
        claim = self._claim(device) if re.fullmatch(r"[0-9a-f]{32}", device) else None
        if claim is None or claim.owner_id != user_id:
            raise NotFound("device not found")
        self.forget(user_id, device, claim.endpoint_arn)

    def forget(self, user_id: str, device: str, endpoint_arn: str) -> None:
        """Takes a device away from its user (unregistered, or reported disabled by SNS)."""

        def write(tx: TransactWrite) -> None:
            # Only this endpoint of this user: a device registered again meanwhile is left alone.
            tx.delete(
                DeviceClaimRow(pk=f"d#{device}"),
                condition=(DeviceClaimRow.owner_id == user_id) & (DeviceClaimRow.endpoint_arn == endpoint_arn),
            )
            tx.update(DeviceSetRow(pk=user_key(user_id)), actions=[DeviceSetRow.devices[device].remove()])

        try:
            transact(self._connection, write)
        except TransactWriteError as error:
            if "ConditionalCheckFailed" not in reasons(error):
                raise
            return  # moved to another user or registered again meanwhile: not ours to remove
        self._push.delete(endpoint_arn)

    def endpoints(self, user_ids: list[str]) -> dict[str, dict[str, dict[str, str]]]:
        """{user id: {device id: {platform, endpoint_arn}}}, in batches of 100."""
        keys = [user_key(user_id) for user_id in dict.fromkeys(user_ids)]
        found: dict[str, dict[str, dict[str, str]]] = {}
        for row in DeviceSetRow.batch_get(keys, attributes_to_get=["pk", "devices"]):
            devices = row.devices.as_dict() if hasattr(row.devices, "as_dict") else dict(row.devices or {})
            if devices:
                found[row.pk[2:]] = {key: dict(value) for key, value in devices.items()}
        return found
