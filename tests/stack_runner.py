"""Start the local stack as `make local` does (a separate process) and wait until it serves."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import boto3

from devstack.files import read_complete_json
from devstack.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


@dataclass
class RunningStack:
    api_url: str
    aws_endpoint_url: str
    redis_url: str
    resources: dict[str, str]
    routes: list[str]
    state_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    web_url: str | None = None  # where the web app is served, when the stack was given one
    redis_cluster: bool = False  # the cache is a cluster (CacheClusterMode=enabled): redis_url is its first primary
    redis_nodes: list[dict[str, Any]] = field(default_factory=list)  # each node's url and role (and slots)

    def client(self, service: str) -> Any:
        return boto3.session.Session().client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.aws_endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def running_stack(
    state_dir: Path,
    template: Path | None = None,
    parameters: dict[str, str] | None = None,
    timeout: float = 90,
    keep_state: bool = False,
    reset: bool = False,
    web_dir: Path | None = None,
) -> Iterator[RunningStack]:
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir.parent / f"{state_dir.name}.log"
    command = [
        sys.executable,
        "-m",
        "devstack",
        "--port",
        str(free_port()),
        "--aws-port",
        "0",
        "--state-dir",
        str(state_dir),
    ]
    if reset:
        command.append("--reset")
    elif not keep_state:
        command.append("--ephemeral")
    if template is not None:
        command += ["--template", str(template)]
    if web_dir is not None:
        command += ["--web-dir", str(web_dir), "--web-port", "0"]
    for key, value in (parameters or {}).items():
        command += ["--parameter", f"{key}={value}"]
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "MOTO_"))}
    endpoints_file = state_dir / "endpoints.json"
    endpoints_file.unlink(missing_ok=True)  # a previous run's, before this one can write its own
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=environment)
    deadline = time.monotonic() + timeout
    try:
        # Wait for the whole file: the stack writes it atomically, and a reader that polls must not
        # take a file still being written for the answer either way.
        while (endpoints := read_complete_json(endpoints_file)) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the local stack did not start:\n{log_path.read_text(errors='replace')[-4000:]}")
            time.sleep(0.1)
        yield RunningStack(
            api_url=endpoints["api_url"],
            aws_endpoint_url=endpoints["aws_endpoint_url"],
            redis_url=endpoints["redis_url"],
            resources=endpoints["resources"],
            routes=endpoints["routes"],
            state_dir=state_dir,
            log_path=log_path,
            process=process,
            web_url=endpoints.get("web_url"),
            redis_cluster=bool(endpoints.get("redis_cluster", False)),
            redis_nodes=list(endpoints.get("redis_nodes") or []),
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def eventually(probe: Callable[[], T | None], timeout: float = 20, interval: float = 0.1, what: str = "") -> T:
    """Poll until `probe` returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}")
        time.sleep(interval)
