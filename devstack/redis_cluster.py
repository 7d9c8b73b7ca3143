"""A real Valkey cluster (cluster mode enabled) on loopback, from the same pinned server binary as
`RedisServer` (each node is one).

A new cluster is formed with plain commands, as `valkey-cli --cluster create` does: the slots are
split evenly between the primaries (CLUSTER ADDSLOTSRANGE), each primary gets its own config
epoch, the nodes MEET, the replicas REPLICATE their primary. `start()` returns once every node says
`cluster_state:ok` and every node agrees on the same map of slots, primaries and replicas.

With a `data_dir`, each node keeps its snapshot, its log and its `nodes.conf` under
`data_dir/node-<port>/`, and a cluster started again over them comes back as it was (same ports,
same node ids, same slots) without forming anew. Kept nodes that do not make the cluster asked for
(another number of primaries or replicas), or that do not come up again (a port of theirs taken),
are removed with a warning and a new cluster is formed: Redis is only a cache of DynamoDB, and an
empty cluster fills again as feeds are read.

Valkey holds a restarted primary at `cluster_state:fail` for two seconds before it serves
(`CLUSTER_WRITABLE_DELAY`, not configurable), so no cluster comes up, and no killed primary comes
back, faster than that.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import redis
from redis.crc import key_slot

from devstack.redis_server import RedisServer, RedisServerFailed, free_port, log_tail

CLUSTER_SLOTS = 16384
NODES_CONF = "nodes.conf"
NODE_DIR_PREFIX = "node-"
BUS_PORT_OFFSET = 10000  # Valkey's default cluster bus port: the client port + 10000
POLL_SECONDS = 0.025
PRIMARY, REPLICA = "primary", "replica"
UNSETTLED_FLAGS = {"fail", "fail?", "handshake", "noaddr"}

log = logging.getLogger("devstack.redis")
T = TypeVar("T")

# A node's place in the cluster: (role, its primary's node id for a replica, its slot ranges).
Place = tuple[str, str | None, tuple[tuple[int, int], ...]]
Layout = dict[str, Place]  # node id -> place


def slot_ranges(primaries: int) -> list[tuple[int, int]]:
    """The slots split evenly between `primaries`, as (first, last) ranges."""
    bounds = [index * CLUSTER_SLOTS // primaries for index in range(primaries + 1)]
    return [(bounds[index], bounds[index + 1] - 1) for index in range(primaries)]


def cluster_settings(config_file: Path, bus_port: int, work_dir: Path, node_timeout_ms: int) -> dict[str, str]:
    """The settings that make a server a node of a cluster."""
    return {
        "cluster-enabled": "yes",
        "cluster-config-file": str(config_file),
        "cluster-port": str(bus_port),
        "cluster-node-timeout": str(node_timeout_ms),
        # Losing one shard leaves the others serving their keys; the lost shard's keys fail fast.
        "cluster-require-full-coverage": "no",
        "cluster-allow-reads-when-down": "no",
        # A replica loads its full sync from the socket: it never writes a file it could load later.
        "repl-diskless-load": "swapdb",
        "repl-diskless-sync-delay": "0",  # a primary syncs a replica at once (not 5 s later, for more to join)
        "dir": str(work_dir),
    }


@dataclass(frozen=True)
class NodeLine:
    """One line of CLUSTER NODES (or of a nodes.conf)."""

    node_id: str
    host: str
    port: int
    bus_port: int
    flags: frozenset[str]
    primary_id: str | None
    connected: bool
    slots: tuple[tuple[int, int], ...]

    @property
    def place(self) -> Place:
        if "master" in self.flags:
            return (PRIMARY, None, self.slots)
        return (REPLICA, self.primary_id, ())


def parse_cluster_nodes(text: str) -> list[NodeLine]:
    lines = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8 or parts[0] == "vars":
            continue
        address = parts[1].split(",", 1)[0]  # ip:port@cport[,hostname]
        host_port, _, bus = address.partition("@")
        host, _, port = host_port.rpartition(":")
        slots = []
        for token in parts[8:]:
            if token.startswith("["):
                continue  # a slot being migrated or imported
            first, _, last = token.partition("-")
            slots.append((int(first), int(last or first)))
        lines.append(
            NodeLine(
                node_id=parts[0],
                host=host,
                port=int(port or 0),
                bus_port=int(bus or 0),
                flags=frozenset(parts[2].split(",")),
                primary_id=None if parts[3] == "-" else parts[3],
                connected=parts[7] == "connected",
                slots=tuple(sorted(slots)),
            )
        )
    return lines


@dataclass
class ClusterNode:
    """A node of the cluster: its server and its place (the one it was given)."""

    server: RedisServer
    role: str = PRIMARY
    node_id: str = ""
    slots: tuple[tuple[int, int], ...] = ()
    primary_id: str | None = None  # a replica's primary

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, timeout: float = 1.0) -> redis.Redis:
        return redis.Redis(
            host=self.host,
            port=self.port,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
        )

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"url": self.url, "role": self.role, "node_id": self.node_id}
        if self.role == PRIMARY:
            described["slots"] = [list(span) for span in self.slots]
        else:
            described["primary_id"] = self.primary_id
        return described


@dataclass
class ValkeyCluster:
    """A cluster of `primaries` shards with `replicas_per_primary` replicas each, every node a
    `RedisServer` with the same `settings` (the template's cache parameter groups). Ports follow
    `base_port` (0: free ports); `data_dir` keeps each node's snapshot and nodes.conf."""

    primaries: int = 3
    replicas_per_primary: int = 0
    host: str = "127.0.0.1"
    base_port: int = 0
    data_dir: Path | None = None
    settings: dict[str, str] = field(default_factory=dict)
    binary: str | os.PathLike[str] | None = None
    node_timeout_ms: int = 2000
    nodes: list[ClusterNode] = field(default_factory=list, init=False)  # the primaries first, then the replicas
    _layout: Layout = field(default_factory=dict, init=False, repr=False)  # the agreed map, kept through restarts
    _scratch: Path | None = field(default=None, init=False, repr=False)  # the nodes' directories without data_dir

    # ------------------------------------------------------------------ what it is
    @property
    def url(self) -> str:
        """The first primary's URL: a cluster client discovers the other nodes from it."""
        return self.primary_nodes[0].url

    @property
    def primary_nodes(self) -> list[ClusterNode]:
        return [node for node in self.nodes if node.role == PRIMARY]

    @property
    def binary_path(self) -> Path | None:
        return self.nodes[0].server.binary_path if self.nodes else None

    def replicas_of(self, primary: ClusterNode) -> list[ClusterNode]:
        return [node for node in self.nodes if node.role == REPLICA and node.primary_id == primary.node_id]

    def primary_for_slot(self, slot: int) -> ClusterNode:
        for node in self.primary_nodes:
            if any(first <= slot <= last for first, last in node.slots):
                return node
        raise KeyError(f"no primary serves slot {slot}")

    def primary_for_key(self, key: str | bytes) -> ClusterNode:
        return self.primary_for_slot(key_slot(key.encode() if isinstance(key, str) else key))

    def describe(self) -> list[dict[str, Any]]:
        return [node.describe() for node in self.nodes]

    # ------------------------------------------------------------------ start and stop
    def start(self, timeout: float = 30.0) -> ValkeyCluster:
        """Start every node and return once the cluster is ok on all of them: a new cluster from
        scratch, or, over a kept `data_dir`, the cluster its nodes.conf files describe."""
        if self.primaries < 1 or self.replicas_per_primary < 0:
            raise ValueError("a cluster needs at least one primary and no negative number of replicas")
        kept = self._kept_nodes()
        if kept is not None:
            try:
                return self._start(kept, timeout, form=False)
            except RedisServerFailed as failure:  # its ports taken, its nodes.conf unusable...
                self._discard_kept(f"did not come up ({failure})")
        return self._start(self._new_nodes(), timeout, form=True)

    def _start(self, nodes: list[ClusterNode], timeout: float, form: bool) -> ValkeyCluster:
        self.nodes = nodes
        try:
            _each_at_once(self.nodes, lambda node: node.server.start(timeout))
            if form:
                self._form(timeout)
            self._settle(timeout, self._layout or None)
            self._list_replicas(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every node (each saves its snapshot first when the data_dir is kept)."""
        _each_at_once(self.nodes, lambda node: node.server.stop())
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def kill(self, node: ClusterNode) -> None:
        """SIGKILL one node; returns once it no longer answers."""
        node.server.kill()

    def restart(self, node: ClusterNode, timeout: float = 30.0) -> None:
        """The node again, on its port with its nodes.conf, and empty (unless its data_dir is kept:
        then it loads its own snapshot). Returns once the cluster is ok everywhere with every node
        back in its place: a primary whose replica took over while it was down comes back as that
        replica's replica, syncs from it, and takes its slots back (CLUSTER FAILOVER)."""
        node.server.start(timeout)
        self._settle(timeout, self._layout, take_back=True)
        self._list_replicas(timeout)

    def restart_all(self, timeout: float = 30.0) -> None:
        """Every node again (after they were all killed), as `restart` does for one."""
        _each_at_once(self.nodes, lambda node: node.server.start(timeout))
        self._settle(timeout, self._layout, take_back=True)
        self._list_replicas(timeout)

    @classmethod
    def attach(
        cls, url: str, settings: dict[str, str] | None = None, binary: str | os.PathLike[str] | None = None
    ) -> ValkeyCluster:
        """The cluster a node at `url` belongs to, started by another process: to kill its nodes
        and start them again (on their ports, with their nodes.conf and the cluster settings they
        run with, plus `settings`), but not to stop it."""
        connection = redis.Redis.from_url(url).connection_pool.connection_kwargs
        entry = RedisServer(host=str(connection["host"]), port=int(connection["port"]))
        with ClusterNode(entry).client() as client:
            text = str(client.execute_command("CLUSTER", "NODES"))
        cluster = cls(binary=binary, settings=dict(settings or {}))
        for line in parse_cluster_nodes(text):
            with ClusterNode(RedisServer(host=line.host, port=line.port)).client() as probe:
                config = {
                    name: str(probe.config_get(name)[name])
                    for name in ("cluster-config-file", "dir", "cluster-node-timeout")
                }
            cluster.node_timeout_ms = int(config["cluster-node-timeout"])
            config_file = Path(config["dir"], config["cluster-config-file"])  # an absolute path stays as it is
            node_settings = {
                **cluster.settings,
                **cluster_settings(config_file, line.bus_port, Path(config["dir"]), cluster.node_timeout_ms),
            }
            role, primary_id, slots = line.place
            server = RedisServer(host=line.host, port=line.port, settings=node_settings, binary=binary)
            cluster.nodes.append(ClusterNode(server, role, line.node_id, slots, primary_id))
        cluster.nodes.sort(key=lambda node: (node.role != PRIMARY, node.slots, node.primary_id or ""))
        cluster.primaries = len(cluster.primary_nodes)
        cluster.replicas_per_primary = len(cluster.nodes) // cluster.primaries - 1
        cluster._layout = {node.node_id: (node.role, node.primary_id, node.slots) for node in cluster.nodes}
        return cluster

    # ------------------------------------------------------------------ forming
    def _node_dir(self, port: int) -> Path:
        if self.data_dir is not None:
            return self.data_dir / f"{NODE_DIR_PREFIX}{port}"
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="valkey-cluster-"))
        return self._scratch / f"{NODE_DIR_PREFIX}{port}"

    def _node(self, port: int, bus_port: int, role: str = PRIMARY) -> ClusterNode:
        directory = self._node_dir(port)
        directory.mkdir(parents=True, exist_ok=True)
        settings = {
            **self.settings,
            **cluster_settings(directory / NODES_CONF, bus_port, directory, self.node_timeout_ms),
        }
        server = RedisServer(
            host=self.host,
            port=port,
            data_dir=directory if self.data_dir is not None else None,
            settings=settings,
            binary=self.binary,
        )
        return ClusterNode(server, role)

    def _new_nodes(self) -> list[ClusterNode]:
        count = self.primaries * (1 + self.replicas_per_primary)
        taken: set[int] = set()

        def any_free_port() -> int:
            while (port := free_port(self.host)) in taken:
                pass
            taken.add(port)
            return port

        nodes = []
        for index in range(count):
            if self.base_port:
                port = self.base_port + index
                bus_port = port + BUS_PORT_OFFSET if port + BUS_PORT_OFFSET <= 65535 else any_free_port()
                taken.update((port, bus_port))
            else:
                port, bus_port = any_free_port(), any_free_port()
            node = self._node(port, bus_port, PRIMARY if index < self.primaries else REPLICA)
            (Path(node.server.settings["cluster-config-file"])).unlink(missing_ok=True)
            nodes.append(node)
        return nodes

    def _form(self, timeout: float) -> None:
        """Give the slots to the primaries, join the nodes, make the replicas replicate."""
        clients = [node.client() for node in self.nodes]
        for node, client in zip(self.nodes, clients, strict=True):
            node.node_id = str(client.execute_command("CLUSTER", "MYID"))
        primaries = self.nodes[: self.primaries]
        for epoch, (node, client, span) in enumerate(
            zip(primaries, clients[: self.primaries], slot_ranges(self.primaries), strict=True), start=1
        ):
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", *span)
            client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", epoch)  # distinct epochs: no collision to resolve
            node.slots = (span,)
        first = self.nodes[0]
        for client in clients[1:]:
            client.execute_command("CLUSTER", "MEET", first.host, first.port, _bus_port(first))
        for index, (node, client) in enumerate(zip(self.nodes, clients, strict=True)):
            if index < self.primaries:
                continue
            primary = primaries[(index - self.primaries) // self.replicas_per_primary]
            node.primary_id = primary.node_id
            # A replica must know its primary first: gossip brings it within a few heartbeats.
            _retry(
                partial(client.execute_command, "CLUSTER", "REPLICATE", primary.node_id),
                timeout,
                what=f"{node.url} to replicate {primary.url}",
            )
        for client in clients:
            client.close()
        self._layout = {node.node_id: (node.role, node.primary_id, node.slots) for node in self.nodes}

    def _kept_nodes(self) -> list[ClusterNode] | None:
        """The nodes of the kept cluster under data_dir, when they make the cluster asked for."""
        if self.data_dir is None or not self.data_dir.is_dir():
            return None
        directories = sorted(path for path in self.data_dir.glob(f"{NODE_DIR_PREFIX}*") if path.is_dir())
        if not directories:
            return None
        found: list[tuple[Path, NodeLine, list[NodeLine]]] = []
        for directory in directories:
            config = directory / NODES_CONF
            lines = parse_cluster_nodes(config.read_text(errors="replace")) if config.exists() else []
            myself = next((line for line in lines if "myself" in line.flags), None)
            if myself is not None and directory.name == f"{NODE_DIR_PREFIX}{myself.port}":
                found.append((directory, myself, lines))
        shape = sorted((len(lines), sum(1 for line in lines if line.place[0] == PRIMARY)) for _, _, lines in found)
        wanted = self.primaries * (1 + self.replicas_per_primary)
        ports = sorted(myself.port for _, myself, _ in found)
        if (
            len(found) != len(directories)
            or shape != [(wanted, self.primaries)] * wanted
            or (self.base_port and ports != list(range(self.base_port, self.base_port + wanted)))
        ):
            self._discard_kept(
                f"is not one of {self.primaries} primaries with {self.replicas_per_primary} replicas each"
                + (f" on ports from {self.base_port}" if self.base_port else "")
            )
            return None
        nodes = []
        for _, myself, _ in found:
            node = self._node(myself.port, myself.bus_port, myself.place[0])
            node.node_id, node.primary_id, node.slots = myself.node_id, myself.place[1], myself.slots
            nodes.append(node)
        nodes.sort(key=lambda node: (node.role != PRIMARY, node.slots, node.primary_id or ""))
        return nodes

    def _discard_kept(self, reason: str) -> None:
        assert self.data_dir is not None
        log.warning(
            "the cluster kept in %s %s: starting a new, empty one "
            "(Redis is only a cache: feeds rebuild from DynamoDB on their next read)",
            self.data_dir,
            reason,
        )
        for directory in self.data_dir.glob(f"{NODE_DIR_PREFIX}*"):
            shutil.rmtree(directory, ignore_errors=True)
        self._layout = {}

    # ------------------------------------------------------------------ waiting
    def _settle(self, timeout: float, expected: Layout | None, take_back: bool = False) -> None:
        """Wait until every node is ok and agrees on one layout (`expected`, when given); then the
        nodes' places are the agreed ones. With `take_back`, a node that should be a primary but is
        now its old replica's replica asks for a manual failover to take its slots back."""
        deadline = time.monotonic() + timeout
        asked_failover: dict[str, float] = {}
        while True:
            problems, views, links = [], [], {}
            for node in self.nodes:
                try:
                    with node.client(timeout=0.5) as client:
                        info = str(client.execute_command("CLUSTER", "INFO"))
                        lines = parse_cluster_nodes(str(client.execute_command("CLUSTER", "NODES")))
                        link = client.info("replication").get("master_link_status")
                except redis.RedisError as error:
                    problems.append((node, f"does not answer ({error})"))
                    continue
                links[node.port] = link
                if "cluster_state:ok" not in info:
                    problems.append((node, "cluster_state is not ok"))
                unsettled = [line for line in lines if line.flags & UNSETTLED_FLAGS or not line.connected]
                if unsettled or len(lines) != len(self.nodes):
                    problems.append((node, f"knows {len(lines)} nodes, {len(unsettled)} of them not settled"))
                if link not in (None, "up"):
                    problems.append((node, "its replication link is down"))
                views.append((node, {line.node_id: line.place for line in lines}, lines))
            agreed = views[0][1] if views else None
            if views and any(view != agreed for _, view, _ in views):
                problems.append((views[0][0], "the nodes do not agree on the slot map yet"))
            elif agreed is not None and len(views) == len(self.nodes):
                covered = sum(last - first + 1 for role, _, slots in agreed.values() for first, last in slots)
                if covered != CLUSTER_SLOTS:
                    problems.append((views[0][0], f"{covered} of {CLUSTER_SLOTS} slots are served"))
                if expected is not None and agreed != expected:
                    problems.append((views[0][0], "the slot map is not the expected one yet"))
                    if take_back:
                        self._take_back(agreed, expected, asked_failover)
            if not problems:
                assert agreed is not None
                self._layout = agreed
                for node, _, lines in views:
                    node.node_id = next(line.node_id for line in lines if "myself" in line.flags)
                    node.role, node.primary_id, node.slots = agreed[node.node_id]
                return
            if time.monotonic() > deadline:
                node, problem = problems[0]
                raise RedisServerFailed(self._failure(node, problem, timeout))
            time.sleep(POLL_SECONDS)

    def _list_replicas(self, timeout: float) -> None:
        """Wait until the cluster's slot map (CLUSTER SLOTS, what clients read) names every
        replica. A replica is left out of it until it reports a replication offset, which a
        primary that has written nothing yet never gives it: a write on each primary (a key of its
        own slots, set and deleted) starts the offsets, and ElastiCache's replicas, long running,
        always have one. Clients that read from replicas find them from the start."""
        if not any(node.role == REPLICA for node in self.nodes):
            return
        for primary in self.primary_nodes:
            key = next(
                f"replicas-listed:{index}"
                for index in range(100_000)
                if any(first <= key_slot(f"replicas-listed:{index}".encode()) <= last for first, last in primary.slots)
            )
            with primary.client() as client:
                client.set(key, "1")
                client.delete(key)
        wanted = {primary.port: len(self.replicas_of(primary)) for primary in self.primary_nodes}
        deadline = time.monotonic() + timeout
        while True:
            with self.primary_nodes[0].client() as client:
                ranges = client.execute_command("CLUSTER", "SLOTS")
            listed = {int(entry[2][1]): len(entry) - 3 for entry in ranges}
            if all(listed.get(port, 0) >= count for port, count in wanted.items()):
                return
            if time.monotonic() > deadline:
                raise RedisServerFailed(f"the cluster's slot map did not name every replica in {timeout:g} s: {listed}")
            time.sleep(POLL_SECONDS)

    def _take_back(self, agreed: Layout, expected: Layout, asked: dict[str, float]) -> None:
        for node in self.nodes:
            want, have = expected.get(node.node_id), agreed.get(node.node_id)
            if not want or not have or want[0] != PRIMARY or have[0] != REPLICA:
                continue
            if time.monotonic() - asked.get(node.node_id, 0.0) < 1.0:
                continue
            try:
                with node.client(timeout=0.5) as client:
                    if client.info("replication").get("master_link_status") == "up":
                        client.execute_command("CLUSTER", "FAILOVER")
                        asked[node.node_id] = time.monotonic()
            except redis.RedisError:
                pass  # asked again on the next round

    def _failure(self, node: ClusterNode, problem: str, timeout: float) -> str:
        what = f"the Valkey cluster was not ok after {timeout:g} s: {node.url} {problem}"
        path = node.server.log_path
        said = log_tail(path) if path is not None else ""
        return f"{what}; the end of its log ({path}):\n{said}" if said else what


def _bus_port(node: ClusterNode) -> int:
    return int(node.server.settings["cluster-port"])


def _retry(action: Callable[[], T], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except redis.ResponseError as error:
            if time.monotonic() > deadline:
                raise RedisServerFailed(f"could not get {what} in {timeout:g} s: {error}") from error
            time.sleep(POLL_SECONDS)


def _each_at_once(nodes: list[ClusterNode], action: Callable[[ClusterNode], object]) -> None:
    """The action on every node at once, a thread each; the first failure is raised once all are done."""
    if not nodes:
        return
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        futures = [pool.submit(action, node) for node in nodes]
    for future in futures:
        error = future.exception()
        if error is not None:
            raise error
