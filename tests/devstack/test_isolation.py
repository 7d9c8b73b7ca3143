"""Concurrent invocations of one function never see each other's request (as on Lambda)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from devstack.runtime import FunctionRuntime
from devstack.template import Template
from tests.conftest import api_event

ROOT = Path(__file__).resolve().parents[2]


def test_concurrent_requests_to_one_function_keep_their_own_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    template = Template.load(ROOT / "template.yaml", "isolation")
    for logical_id in template.document["Resources"]:
        template.refs[logical_id] = logical_id
        template.attributes[logical_id] = {
            "Arn": "arn",
            "QueueName": "q",
            "StreamArn": "s",
            "PrimaryEndPoint.Address": "127.0.0.1",
            "PrimaryEndPoint.Port": "1",
            "ConfigurationEndPoint.Address": "127.0.0.1",
            "ConfigurationEndPoint.Port": "1",
            "DomainName": "d",
        }
    saved = dict(os.environ)
    runtime = FunctionRuntime(template)
    runtime.load({})
    from photofeed.services.profiles import ProfileService

    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def recorder(route: str) -> Any:
        def record(self: Any, caller_id: str, *rest: Any) -> Any:
            with lock:
                seen.append((route, caller_id))
            raise LookupError("recorded")  # answered as a 500; only the caller matters here

        return record

    monkeypatch.setattr(ProfileService, "me", recorder("me"))
    monkeypatch.setattr(ProfileService, "by_username", recorder("user"))
    function = runtime.functions["ReadApiFunction"]

    def call(index: int) -> None:
        if index % 2:
            event = api_event("api_get_me.json", sub=f"me-{index}")
        else:
            event = api_event("api_get_user.json", sub=f"user-{index}")
        runtime.invoke(function, event, "test")

    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(call, range(400)))
    finally:
        os.environ.clear()
        os.environ.update(saved)

    assert len(seen) == 400
    assert [entry for entry in seen if not entry[1].startswith(entry[0])] == []
