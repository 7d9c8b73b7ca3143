"""Files one process writes while another reads them: the local stack's `endpoints.json` (which
`make test` waits for), its saved state, and what the fixture functions record for the tests.

A fresh-clone `make test` once failed on `json.loads` of an `endpoints.json` that existed but was
still empty. Writers replace such files whole (`devstack.files`); readers that poll wait for a
whole file. `tests/devstack/file_watch.py` looks at a file after every step of its writer, so a
window in which a reader would see it empty, half-written or gone is found without a race.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from devstack import state
from devstack.files import read_complete_json
from devstack.redis_server import free_port
from tests.conftest import LocalAws
from tests.devstack.file_watch import watching
from tests.devstack.test_local_stack import recorded
from tests.stack_runner import ROOT, running_stack

HERE = Path(__file__).resolve().parent

SLOW_WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path

    path = Path(sys.argv[sys.argv.index("--state-dir") + 1]) / "endpoints.json"
    endpoints = {
        "api_url": "http://127.0.0.1:1", "aws_endpoint_url": "http://127.0.0.1:2",
        "redis_url": "redis://127.0.0.1:3/0", "resources": {}, "routes": [],
    }
    text = json.dumps(endpoints, indent=2)
    with path.open("w") as out:  # as `Path.write_text` does: the file exists, empty, then fills
        time.sleep(0.5)
        out.write(text[:20])
        out.flush()
        time.sleep(0.5)
        out.write(text[20:])
    time.sleep(60)
    """
)


def test_the_runner_waits_for_a_whole_endpoints_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_popen = subprocess.Popen

    def slow_stack(command: list[str], **options: Any) -> subprocess.Popen[bytes]:
        return real_popen([sys.executable, "-c", SLOW_WRITER, *command[1:]], **options)

    monkeypatch.setattr("tests.stack_runner.subprocess.Popen", slow_stack)

    with running_stack(tmp_path / "state", timeout=20) as stack:
        assert stack.api_url == "http://127.0.0.1:1"


def test_recorded_events_are_read_as_whole_lines(tmp_path: Path) -> None:
    records = tmp_path / "recorder.jsonl"
    whole = json.dumps({"Records": [{"body": "one"}]})
    records.write_text(whole + "\n" + whole[:15])  # the recorder is writing the second line

    class Stack:
        records_dir = tmp_path

    assert recorded(Stack()) == [json.loads(whole)]  # type: ignore[arg-type]


def test_the_saved_state_is_replaced_whole(local_aws: LocalAws, tmp_path: Path) -> None:
    directory = tmp_path / "snapshot"
    state.snapshot(directory, local_aws.template, local_aws.aws)
    queue = local_aws.template.refs["FanoutQueue"]
    local_aws.aws("sqs").send_message(QueueUrl=queue, MessageBody="saved the second time")

    with watching(directory / "state.json") as watch:
        state.snapshot(directory, local_aws.template, local_aws.aws)

    assert watch.looks > 0
    assert watch.violations == []
    saved = json.loads((directory / "state.json").read_text())
    assert [message["body"] for message in saved["queues"]["FanoutQueue"]] == ["saved the second time"]
    assert (directory / "state.json").stat().st_mode & 0o077 == 0  # passwords: its owner's only


def test_a_saved_state_that_is_not_whole_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text('{"tables": {"UsersTable": [')

    with pytest.raises(RuntimeError) as failure:
        state.restore(tmp_path, template=None, aws=None)  # type: ignore[arg-type]

    assert str(tmp_path / "state.json") in str(failure.value)
    assert "RESET=1" in str(failure.value)


WATCHED_STACK = textwrap.dedent(
    """
    import json, os, signal, sys, threading
    from pathlib import Path

    from devstack.__main__ import parse_arguments
    from devstack.stack import LocalStack
    from tests.devstack.file_watch import watching

    os.environ.setdefault("MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY", "HASH")
    os.environ.setdefault("MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY", "HASH")
    report, config = Path(sys.argv[1]), parse_arguments(sys.argv[2:])
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())

    def refuse(document):
        if document.get("api_url") == "http://stale.invalid":
            return "a previous run's endpoints, while this run starts"
        return None

    stack = LocalStack(config)
    with watching(config.state_dir / "endpoints.json", refuse, may_vanish=True) as watch:  # as `make local`
        stack.start()
        stopping.wait()
        stack.stop()
    report.write_text(json.dumps({"looks": watch.looks, "violations": watch.violations}))
    """
)


@pytest.mark.e2e
def test_the_stack_writes_endpoints_json_whole_and_never_shows_a_previous_runs(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    endpoints = state_dir / "endpoints.json"
    endpoints.write_text(json.dumps({"api_url": "http://stale.invalid"}))  # left by a run killed with -9
    report = tmp_path / "report.json"
    command = [
        *(sys.executable, "-c", WATCHED_STACK, str(report)),
        *("--template", str(HERE / "template.yaml"), "--parameter", f"RecordDir={tmp_path}"),
        *("--port", str(free_port()), "--aws-port", "0", "--state-dir", str(state_dir), "--ephemeral"),
    ]
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "MOTO_"))}
    log = tmp_path / "stack.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while (read_complete_json(endpoints) or {}).get("api_url", "http://stale.invalid") == "http://stale.invalid":
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    watched = json.loads(report.read_text())
    assert watched["looks"] > 0
    assert watched["violations"] == []
    assert not endpoints.exists()  # its endpoints no longer answer
