"""The faults the load injects: the Redis server (or every node of the Redis cluster) killed and
started again, the in-process ones through the stack's fault file (devstack/faults.py), the poison
messages, and a watch on the dead-letter queues sampled as CloudWatch samples them for the alarms."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import redis

from devstack.aws import cache_server_settings
from devstack.files import write_json_atomically
from devstack.redis_cluster import ValkeyCluster
from devstack.redis_server import RedisServer
from devstack.template import Template

POISON_TYPE = "load_test_poison"


class FaultFile:
    """The stack's fault settings, written whole each time (a kill is armed by the write that
    names it)."""

    def __init__(self, path: Path, retry_after_seconds: float) -> None:
        self.path = path
        self.settings: dict[str, Any] = {"retry_after_seconds": retry_after_seconds}
        self.write()

    def write(self, **once: Any) -> None:
        write_json_atomically(self.path, {**self.settings, **once})

    def set(self, **settings: Any) -> None:
        self.settings.update(settings)
        self.write()


@dataclass
class RedisOutage:
    """SIGKILL to the stack's Redis server, then, after `seconds`, the same server binary on the
    same port with the same settings (the template's cache parameter group), empty.

    When the stack's cache is a cluster (the server at `redis_url` says cluster_enabled), every
    node of it is killed, primaries and replicas, and each starts again empty on its port with its
    nodes.conf: the outage ends once the cluster is ok on every node with its slot map as before."""

    redis_url: str
    binary: str
    template: Template
    down_at: float | None = None
    up_at: float | None = None
    restarted: RedisServer | None = None
    cluster: ValkeyCluster | None = None

    def kill(self) -> None:
        client = redis.Redis.from_url(self.redis_url)
        clustered = bool(client.info("cluster").get("cluster_enabled"))
        pid = int(client.info("server")["process_id"])
        client.close()
        if clustered:
            self.cluster = ValkeyCluster.attach(self.redis_url, self._settings(cluster=True), self.binary)
            self.down_at = time.monotonic()
            for node in self.cluster.nodes:
                self.cluster.kill(node)  # returns once the node no longer answers
            return
        self.down_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        while _answers(self.redis_url):
            time.sleep(0.01)

    def start_again(self) -> None:
        if self.cluster is not None:
            self.cluster.restart_all()  # returns once the cluster is ok on every node
            self.up_at = time.monotonic()
            return
        connection = redis.Redis.from_url(self.redis_url).connection_pool.connection_kwargs
        self.restarted = RedisServer(
            host=str(connection["host"]),
            port=int(connection["port"]),
            settings=self._settings(cluster=False),
            binary=self.binary,
        ).start()  # returns once the server answers PING
        self.up_at = time.monotonic()

    def _settings(self, cluster: bool) -> dict[str, str]:
        """The settings of the cache parameter group the stack's server runs with (the template has
        one per cache mode)."""
        template = self.template
        if "CacheClusterMode" in (template.document.get("Parameters") or {}):
            mode = {"CacheClusterMode": "enabled" if cluster else "disabled"}
            template = Template.load(template.path, template.stack_name, template.region, mode)
        return cache_server_settings(template)

    def stop(self) -> None:
        if self.restarted is not None:
            self.restarted.stop()
        if self.cluster is not None:
            self.cluster.stop()


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.2).ping())
    except redis.RedisError:
        return False


def poison_upload_event(bucket: str, key: str) -> str:
    """An S3 ObjectCreated notification for `key`, as S3 sends it to the media queue."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": "us-east-1",
                    "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                    "eventName": "ObjectCreated:Post",
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                        "object": {"key": quote_plus(key), "size": 1234, "sequencer": "0A"},
                    },
                }
            ]
        }
    )


def poison_fanout_message() -> tuple[str, str]:
    """A fan-out message no worker can ever handle (an unknown type): (marker, body)."""
    marker = uuid.uuid4().hex
    return marker, json.dumps({"type": POISON_TYPE, "marker": marker})


@dataclass
class DeadLetterWatch:
    """Samples every dead-letter queue's ApproximateNumberOfMessagesVisible (the metric of the
    template's dead-letter alarms) every `interval` seconds, from a thread."""

    sqs: Any
    queues: dict[str, str]  # logical id -> URL
    interval: float = 1.0
    samples: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dead-letter-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        for logical_id, url in self.queues.items():
            attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            visible = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
            self.samples.setdefault(logical_id, []).append((time.monotonic(), visible))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sample()
