"""The Redis-protocol server the local stack, the tests and the bench start.

`make local` once stopped with "redis-server exited at start:" and nothing more: Debian's Redis
7.0, found on PATH, could not read the snapshot the pinned Valkey 8 had written, said so on its
stdout, which nobody read. So: the pinned server unless another is asked for; the server's own log
in every start-up failure; and a snapshot the server cannot load is set aside, the cache starting
empty (feeds rebuild from DynamoDB), while a snapshot the server did not fail on stays in place.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from devstack.redis_server import RedisServer
from tests.stack_runner import running_stack

HERE = Path(__file__).resolve().parent
SERVER_VARIABLE = "DEVSTACK_REDIS_SERVER"


def executable(path: Path, script: str) -> Path:
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def no_server_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SERVER_VARIABLE, raising=False)


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def start_failure(server: RedisServer, timeout: float = 10.0) -> str:
    """The error of a start that must fail (a server that starts all the same is stopped)."""
    try:
        with pytest.raises(RuntimeError) as failure:
            server.start(timeout=timeout)
    finally:
        server.stop()
    return str(failure.value)


def server_name(url: str) -> str:
    info = redis.Redis.from_url(url).info("server")
    return f"{info.get('server_name', 'redis')} {info.get('valkey_version', info['redis_version'])}"


def saved_snapshot(data_dir: Path, keys: int = 200) -> bytes:
    """A real snapshot, written by the pinned server."""
    server = RedisServer(data_dir=data_dir).start()
    try:
        client = redis.Redis.from_url(server.url)
        client.mset({f"feed:{index}": "x" * 50 for index in range(keys)})
    finally:
        server.stop()
    return (data_dir / "feeds.rdb").read_bytes()


def test_the_pinned_server_runs_whatever_is_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_server_asked_for: None
) -> None:
    on_path = tmp_path / "bin"
    on_path.mkdir()
    for name in ("redis-server", "valkey-server"):
        executable(on_path / name, 'echo "an older server, found on PATH"; exit 1\n')
    monkeypatch.setenv("PATH", f"{on_path}{os.pathsep}{os.environ['PATH']}")

    server = RedisServer().start()
    try:
        assert server_name(server.url).startswith("valkey 8.")
    finally:
        server.stop()


def test_another_server_runs_only_when_asked_for_and_its_own_words_are_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = executable(
        tmp_path / "my-redis-server",
        'echo "my-redis-server: cannot open /etc/my-redis.conf"\necho "my-redis-server: giving up" >&2\nexit 3\n',
    )
    monkeypatch.setenv(SERVER_VARIABLE, str(asked))

    message = start_failure(RedisServer())

    assert "exit status 3" in message
    assert "my-redis-server: cannot open /etc/my-redis.conf" in message
    assert "my-redis-server: giving up" in message


def test_a_server_asked_for_by_name_is_looked_up_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pinned = RedisServer().start()  # the pinned binary, to put on PATH under another name
    pinned.stop()
    assert pinned.binary_path is not None
    on_path = tmp_path / "bin"
    on_path.mkdir()
    (on_path / "redis-server").symlink_to(pinned.binary_path)
    monkeypatch.setenv("PATH", f"{on_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv(SERVER_VARIABLE, "redis-server")

    server = RedisServer().start()
    try:
        assert server.binary_path == on_path / "redis-server"
        assert redis.Redis.from_url(server.url).ping()
    finally:
        server.stop()


def test_the_stack_takes_the_server_from_its_option_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, no_server_asked_for: None
) -> None:
    from devstack.__main__ import parse_arguments

    assert parse_arguments([]).redis_server is None
    assert parse_arguments(["--redis-server", "/opt/redis/bin/redis-server"]).redis_server == (
        "/opt/redis/bin/redis-server"
    )
    monkeypatch.setenv(SERVER_VARIABLE, "redis-server")
    assert parse_arguments([]).redis_server == "redis-server"


def test_a_server_that_fails_at_start_shows_its_own_log(taken_port: int, no_server_asked_for: None) -> None:
    message = start_failure(RedisServer(port=taken_port))

    assert "Address already in use" in message  # what the server wrote on its stdout


def test_a_server_that_never_answers_is_stopped_and_its_log_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    silent = executable(tmp_path / "silent-server", 'echo "silent-server: waiting for a licence key"\nexec sleep 60\n')
    monkeypatch.setenv(SERVER_VARIABLE, str(silent))
    server = RedisServer()

    message = start_failure(server, timeout=1)

    assert "did not answer" in message
    assert "silent-server: waiting for a licence key" in message
    assert server.process is None


def future_version(snapshot: bytes) -> bytes:
    return b"REDIS0099" + snapshot[9:]  # as a newer server's file looks to an older one


def truncated(snapshot: bytes) -> bytes:
    return snapshot[: len(snapshot) // 2]


def flipped_byte(snapshot: bytes) -> bytes:
    middle = len(snapshot) // 2
    return snapshot[:middle] + bytes([snapshot[middle] ^ 0xFF]) + snapshot[middle + 1 :]


def not_a_snapshot(snapshot: bytes) -> bytes:
    return b"this was never a Redis snapshot\n"


@pytest.mark.parametrize("damage", [future_version, truncated, flipped_byte, not_a_snapshot])
def test_a_snapshot_the_server_cannot_load_is_set_aside_and_the_cache_starts_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, no_server_asked_for: None, damage: object
) -> None:
    assert callable(damage)
    unloadable = damage(saved_snapshot(tmp_path))
    (tmp_path / "feeds.rdb").write_bytes(unloadable)

    with caplog.at_level(logging.WARNING, logger="devstack.redis"):
        server = RedisServer(data_dir=tmp_path).start()
    try:
        client = redis.Redis.from_url(server.url)
        assert client.dbsize() == 0
        client.set("feed:after", "1")
    finally:
        server.stop()

    [aside] = tmp_path.glob("feeds.rdb.unloadable-*")
    assert aside.read_bytes() == unloadable
    [warning] = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert str(tmp_path / "feeds.rdb") in warning
    assert str(aside) in warning
    again = RedisServer(data_dir=tmp_path).start()  # the new snapshot is a good one
    try:
        assert redis.Redis.from_url(again.url).get("feed:after") == b"1"
    finally:
        again.stop()


def test_a_snapshot_stays_in_place_when_the_server_fails_for_another_reason(
    tmp_path: Path, taken_port: int, no_server_asked_for: None
) -> None:
    snapshot = saved_snapshot(tmp_path)

    message = start_failure(RedisServer(port=taken_port, data_dir=tmp_path))

    assert "Address already in use" in message
    assert (tmp_path / "feeds.rdb").read_bytes() == snapshot
    assert not list(tmp_path.glob("feeds.rdb.unloadable-*"))


@pytest.mark.e2e
def test_the_local_stack_starts_over_a_snapshot_its_server_cannot_load(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "redis").mkdir(parents=True)
    unloadable = future_version(saved_snapshot(tmp_path / "written-by-a-newer-server"))
    (state / "redis" / "feeds.rdb").write_bytes(unloadable)

    with running_stack(
        state, template=HERE / "template.yaml", parameters={"RecordDir": str(tmp_path)}, keep_state=True
    ) as stack:
        assert redis.Redis.from_url(stack.redis_url).ping()
        log = stack.log()

    assert "could not load the cache snapshot" in log
    assert "Can't handle RDB format version 99" in log  # the server's own words
    [aside] = (state / "redis").glob("feeds.rdb.unloadable-*")
    assert aside.read_bytes() == unloadable
